#!/bin/sh
# tests/ds2-reference.sh: the PyTorch reference (tools/ds2_model.py) must reproduce the fixture checkpoints.
# The demo model's golden ids come from that reference, so it has to be right first. Needs a Python with
# torch and numpy (Debian: python3-torch); skips without one or without the fixtures.

py=${DS2_PYTHON:-/usr/bin/python3}
if [ ! -d "$FIXTURES/models" ]; then
	echo "ds2-reference: no fixtures at $FIXTURES; skipping"
	exit 77
fi
if ! "$py" -c 'import torch, numpy' 2>/dev/null; then
	echo "ds2-reference: $py has no torch/numpy; skipping"
	exit 77
fi
exec "$py" "$top_srcdir/tools/check_fixtures.py" "$FIXTURES"
