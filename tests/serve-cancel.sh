#!/bin/sh
# tests/serve-cancel.sh: the engine's pipe protocol through real pipes: cancel mid-stream, count during a generation, the queue in order, a queued request cancelled.
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
test -d "$FIXTURES/models/tiny-ds2-full" || { echo "no fixture models: skipped"; exit 77; }
exec python3 "$top_srcdir/tests/serve_test.py" "$top_builddir/dscoder-engine" "$FIXTURES/models" cancel
