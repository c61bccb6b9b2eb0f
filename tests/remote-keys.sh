#!/bin/sh
# tests/remote-keys.sh: dscoder-engine --remote to --serve --api-key-file: the key from a file or a variable, a wrong or unset key, an unknown model.
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
exec python3 "$top_srcdir/tests/remote_test.py" "$top_builddir/dscoder-engine" "$top_srcdir/models/dscoder-demo" keys
