#!/bin/sh
# tests/serve-stream.sh: the engine's pipe protocol through real pipes: ready, loading, a streamed chat answer equal to --generate, completion, fim, count, stop strings.
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
test -d "$FIXTURES/models/tiny-ds2-full" || { echo "no fixture models: skipped"; exit 77; }
exec python3 "$top_srcdir/tests/serve_test.py" "$top_builddir/dscoder-engine" "$FIXTURES/models" stream
