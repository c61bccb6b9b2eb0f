# cli-lib.sh: what the dscoder-engine command-line tests share, sourced by tests/*-cli.sh: where the
# engine, tests/f32-maxdiff and the fixture models are, a temporary folder removed on exit, and the
# ok/bad lines (bad marks the test failed; the script ends with exit $fail).
engine="$top_builddir/dscoder-engine"
maxdiff="$top_builddir/tests/f32-maxdiff"
models="$FIXTURES/models"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
