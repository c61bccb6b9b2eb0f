#!/bin/sh
# tests/remote-serve.sh: dscoder-engine --remote to the real --serve on the demo model: answers equal the local engine's, count, cancel, the server killed mid-answer.
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
exec python3 "$top_srcdir/tests/remote_test.py" "$top_builddir/dscoder-engine" "$top_srcdir/models/dscoder-demo" serve
