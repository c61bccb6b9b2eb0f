#!/bin/sh
# tests/serve-bad.sh: the engine's pipe protocol through real pipes: every kind of bad request line is answered with an error and the engine keeps serving; context overflow.
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
test -d "$FIXTURES/models/tiny-ds2-full" || { echo "no fixture models: skipped"; exit 77; }
exec python3 "$top_srcdir/tests/serve_test.py" "$top_builddir/dscoder-engine" "$FIXTURES/models" bad
