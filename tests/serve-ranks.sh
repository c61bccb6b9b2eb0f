#!/bin/sh
# tests/serve-ranks.sh: the pipe service on a model split over --simulate-ranks 2 and 4 equals one rank; --gpus without a GPU is an error event.
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
test -d "$FIXTURES/models/tiny-ds2-full" || { echo "no fixture models: skipped"; exit 77; }
exec python3 "$top_srcdir/tests/serve_test.py" "$top_builddir/dscoder-engine" "$FIXTURES/models" ranks
