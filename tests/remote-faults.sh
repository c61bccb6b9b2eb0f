#!/bin/sh
# tests/remote-faults.sh: dscoder-engine --remote to tests/fault_server.py: 429, 5xx, a cut stream, garbage, an error event, cancel of a silent stream, TLS, nobody listening.
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
exec python3 "$top_srcdir/tests/remote_test.py" "$top_builddir/dscoder-engine" "$top_srcdir/models/dscoder-demo" faults
