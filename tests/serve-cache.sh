#!/bin/sh
# tests/serve-cache.sh: the engine's pipe protocol through real pipes: the prompt cache: the same greedy conversation with a fresh engine per turn and with one engine.
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
test -d "$FIXTURES/models/tiny-ds2-full" || { echo "no fixture models: skipped"; exit 77; }
exec python3 "$top_srcdir/tests/serve_test.py" "$top_builddir/dscoder-engine" "$FIXTURES/models" cache
