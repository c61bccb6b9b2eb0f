#!/usr/bin/env bash
# tests/gpu/parallel-check.sh: the multi-GPU (NCCL) path on a GPU machine, after device-check.sh (or
# prepare.sh) built the programs: tests/test-nccl, then `--gpus 1` through NCCL against the single-GPU
# path (--backend cuda where the engine has it, else the CPU) on the three fixtures: logits max
# difference, top-1 agreement, greedy ids, and decode tokens/s of both paths. Appends to
# $OUT/parallel-report.md. Usage: BUILD=<build dir> OUT=<dir> bash tests/gpu/parallel-check.sh
set -u
out=${OUT:-$PWD/parallel-check-out}
build=${BUILD:-${DC_BUILD:-/tmp/dscoder-device-build}}
[ -x "$PWD/build-gpu/bin/dscoder-engine" ] && [ -z "${BUILD:-}" ] && build=$PWD/build-gpu/bin
fx=${FIXTURES:-$PWD/tests/fixtures}
mkdir -p "$out"
report=$out/parallel-report.md
engine=$build/dscoder-engine
status=0
say() { echo "$*" | tee -a "$report"; }
now() { date +%s.%N; }

say "# multi-GPU (NCCL) path"
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
	say "no GPU visible: nothing to check"
	exit 77
fi
[ -x "$engine" ] || { say "no $engine: build first (tests/gpu/device-check.sh or prepare.sh)"; exit 1; }
if [ -x "$build/tests/test-nccl" ]; then
	timeout 120 "$build/tests/test-nccl" >"$out/test-nccl.txt" 2>&1
	rc=$?
	say "tests/test-nccl: exit $rc: $(tail -n 1 "$out/test-nccl.txt")"
	[ $rc -eq 0 ] || [ $rc -eq 77 ] || status=1
else
	say "tests/test-nccl was not built (make tests/test-nccl)"
fi

single="--threads 4"
name="CPU (F32)"
if "$engine" --help 2>&1 | grep -q -- '--backend'; then
	single="--backend cuda"
	name="one GPU (--backend cuda)"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for m in tiny-ds2-full tiny-ds2-lite tiny-ds2-group; do
	dir=$fx/models/$m
	ids=$dir/golden/prompt.ids
	[ -f "$ids" ] || { say "$m: no fixture"; continue; }
	timeout 120 "$engine" --model "$dir" --ids "$ids" --logits "$tmp/nccl.f32" --gpus 1 2>"$tmp/err" ||
		{ say "$m: --gpus 1 --logits failed: $(cat "$tmp/err")"; status=1; continue; }
	timeout 120 "$engine" --model "$dir" --ids "$ids" --logits "$tmp/one.f32" $single 2>"$tmp/err" ||
		{ say "$m: $name --logits failed: $(cat "$tmp/err")"; status=1; continue; }
	cmp=$(python3 - "$tmp/nccl.f32" "$tmp/one.f32" "$dir/golden/logits.f32" <<'PY'
import struct, sys
def load(p):
    b = open(p, 'rb').read()
    return struct.unpack('<%df' % (len(b) // 4), b)
a, b, g = (load(p) for p in sys.argv[1:4])
v = 320
rows = len(a) // v
top = lambda x, r: max(range(v), key=lambda i: x[r * v + i])
agree = sum(top(a, r) == top(b, r) for r in range(rows))
gold = sum(top(a, r) == top(g, r) for r in range(rows))
print("max |diff| %.3g vs %s, top-1 %d/%d; vs golden %.3g, top-1 %d/%d" % (
    max(abs(x - y) for x, y in zip(a, b)), "single", agree, rows,
    max(abs(x - y) for x, y in zip(a, g)), gold, rows))
PY
)
	say "$m: --gpus 1 logits: ${cmp:-python3 missing}"
	# F32 weights on both paths: the two should agree as closely as two F32 passes do
	if [ "$single" = "--backend cuda" ] &&
	   timeout 120 "$engine" --model "$dir" --ids "$ids" --logits "$tmp/nccl32.f32" --gpus 1 --dtype f32 2>/dev/null &&
	   timeout 120 "$engine" --model "$dir" --ids "$ids" --logits "$tmp/one32.f32" --backend cuda --dtype f32 2>/dev/null; then
		say "$m: --dtype f32: $("$build/tests/f32-maxdiff" "$tmp/nccl32.f32" "$tmp/one32.f32" 1e-3 2>&1 | tail -n 1)"
	fi
	g1=$(timeout 120 "$engine" --model "$dir" --ids "$ids" --greedy 24 --gpus 1 2>&1)
	g2=$(timeout 120 "$engine" --model "$dir" --ids "$ids" --greedy 24 $single 2>&1)
	[ "$g1" = "$g2" ] && say "$m: --greedy 24 equal" || say "$m: --greedy 24 differ: nccl '$g1' / $name '$g2'"
	# decode tokens/s: the difference of a short and a long greedy run, so loading cancels out
	for path in "--gpus 1" "$single"; do
		t0=$(now); timeout 120 "$engine" --model "$dir" --ids "$ids" --greedy 8 $path >/dev/null 2>&1
		t1=$(now); timeout 300 "$engine" --model "$dir" --ids "$ids" --greedy 520 --ctx 1024 $path >/dev/null 2>&1
		t2=$(now)
		# a model this small decodes 512 tokens in less than the noise of two process starts
		rate=$(python3 -c "d = ($t2 - $t1) - ($t1 - $t0); print('%.0f tokens/s' % (512 / d) if d > 0.05 else
	'too fast to time apart from loading (%.3f s)' % d)" 2>/dev/null)
		say "$m: decode with $path: $rate"
	done
done
# The pipe service on the split model (what the TUI starts with gpus: in config.yaml): the CPU ranks
# against one rank, then --gpus 1 answering a request through NCCL.
if command -v python3 >/dev/null && [ -f "$PWD/tests/serve_test.py" ]; then
	# the one-rank answers it compares with are the CPU's (as in make check): a GPU's BF16 logits
	# sample other tokens; --gpus 1 still goes to the GPU
	DSCODER_BACKEND=cpu timeout 180 python3 "$PWD/tests/serve_test.py" "$engine" "$fx/models" ranks >"$tmp/serve.txt" 2>&1
	rc=$?
	say "serve_test.py ranks (pipe service, --simulate-ranks and --gpus 1): exit $rc: $(tail -n 3 "$tmp/serve.txt" | tr '\n' ' ')"
	[ $rc -eq 0 ] || status=1
fi
say "status $status"
exit $status
