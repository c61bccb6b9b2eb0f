#!/bin/sh
# tests/serve-exit.sh: the engine's pipe protocol through real pipes: EOF, shutdown, SIGTERM, a closed stdout (EPIPE) and a missing model end the engine cleanly.
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
test -d "$FIXTURES/models/tiny-ds2-full" || { echo "no fixture models: skipped"; exit 77; }
exec python3 "$top_srcdir/tests/serve_test.py" "$top_builddir/dscoder-engine" "$FIXTURES/models" exit
