#!/bin/sh
# backend-cli.sh: dscoder-engine's --backend, --device, --dtype and --bench --synthetic options: bad
# values and impossible combinations are one line on stderr and exit 1; --backend cpu runs the fixtures
# as before; on a machine with a CUDA GPU, --backend cuda --dtype f32 gives the golden greedy ids.
. "$top_srcdir/tests/cli-lib.sh"

# refused: status 1, one line on stderr naming the option, nothing on stdout
refused() {
	what=$1 pattern=$2
	shift 2
	"$engine" "$@" >"$tmp/out" 2>"$tmp/err"
	st=$?
	lines=$(wc -l <"$tmp/err")
	if [ $st -eq 1 ] && [ "$lines" -eq 1 ] && [ ! -s "$tmp/out" ] && grep -qE -- "$pattern" "$tmp/err"; then
		ok "$what: $(cat "$tmp/err")"
	else
		bad "$what: status $st, $lines lines: $(cat "$tmp/err")"
	fi
}

refused "--backend tpu" "--backend needs cpu, cuda or auto" --backend tpu --bench
refused "--dtype f16" "--dtype needs bf16 or f32" --dtype f16 --bench
refused "--device -1" "--device" --device -1 --bench
refused "--synthetic with --logits" "--synthetic works with --plan and --bench" --synthetic lite --ids x --logits y
refused "--bench --synthetic on the CPU" "makes its random weights on a GPU|has no CUDA backend" --bench --synthetic lite --backend cpu
# the environment's value is checked like the option's
DSCODER_BACKEND=bogus "$engine" --bench >/dev/null 2>"$tmp/err"
grep -q "the backends are cpu, cuda and auto" "$tmp/err" && ok "DSCODER_BACKEND=bogus refused" ||
	bad "DSCODER_BACKEND=bogus: $(cat "$tmp/err")"

if "$engine" --help | grep -q -- "--backend cpu|cuda|auto"; then
	ok "--help lists --backend"
else
	bad "--help does not list --backend"
fi

[ -d "$models" ] || { echo "SKIP: no fixtures at $models for the runs"; exit $fail; }
dir="$models/tiny-ds2-group"
want=$(tr -s ' \n' '  ' <"$dir/golden/greedy.ids" | sed 's/ *$//')
got=$("$engine" --backend cpu --model "$dir" --ids "$dir/golden/prompt.ids" --greedy 24 --threads 2)
[ "$got" = "$want" ] && ok "--backend cpu --greedy 24 equals greedy.ids" || bad "--backend cpu --greedy: got '$got'"

# --backend cuda: the golden ids on a GPU machine; elsewhere one sentence (no GPU, or no CUDA in this build)
if "$engine" --backend cuda --model "$dir" --ids "$dir/golden/prompt.ids" --greedy 24 --dtype f32 >"$tmp/out" 2>"$tmp/err"; then
	got=$(cat "$tmp/out")
	[ "$got" = "$want" ] && ok "--backend cuda --dtype f32 --greedy 24 equals greedy.ids" ||
		bad "--backend cuda --dtype f32 --greedy: got '$got', want '$want'"
else
	lines=$(wc -l <"$tmp/err")
	if [ "$lines" -eq 1 ] && grep -q -- "--backend cuda: " "$tmp/err"; then
		ok "--backend cuda without a GPU: $(cat "$tmp/err")"
	else
		bad "--backend cuda failed unclearly: $(cat "$tmp/err")"
	fi
fi
exit $fail
