#!/usr/bin/env bash
# tests/gpu/device-check.sh: the CUDA backend's check on a GPU machine, in one run of at most 8 minutes:
# configure with CUDA for this GPU's architecture, build, run the GPU tests (per-kernel against the CPU,
# whole-model parity on the fixtures) and the synthetic Coder-V2-Lite benchmark, and write a report
# to $OUT/device-report.md (logs beside it). Run from the repository root:
#     OUT=/tmp/out bash tests/gpu/device-check.sh
# A GPU machine without this project's build dependencies (the device tool's) runs the programs that
# tests/gpu/prepare.sh built elsewhere and left in build-gpu/ (carried along) instead of building.
# The fixtures are $FIXTURES when set, else the tree's own tests/fixtures.
set -u
start=$(date +%s)
out=${OUT:-$PWD/device-check-out}
mkdir -p "$out"
report=$out/device-report.md
log=$out/device-check.log
src=$PWD
build=${DC_BUILD:-/tmp/dscoder-device-build}
jobs=$(nproc 2>/dev/null || echo 4)
status=0

say() { echo "$*" | tee -a "$report"; }
elapsed() { echo $(( $(date +%s) - start )); }
# Runs a step with a time limit, its output to the log and the last lines to the report.
step() {
	local name=$1 limit=$2; shift 2
	local t0=$(date +%s) rc
	echo "=== $name: $*" >>"$log"
	timeout "$limit" "$@" >"$out/step.txt" 2>&1
	rc=$?
	cat "$out/step.txt" >>"$log"
	say "### $name (exit $rc, $(( $(date +%s) - t0 )) s)"
	say '```'
	tail -n 40 "$out/step.txt" | tee -a "$report" >/dev/null
	say '```'
	rm -f "$out/step.txt"
	return $rc
}

: >"$report"
: >"$log"
say "# dscoder-tui CUDA device check"
say ""
say "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit: $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if command -v nvidia-smi >/dev/null; then
	say '```'
	nvidia-smi --query-gpu=name,compute_cap,memory.total,memory.used,clocks.max.memory,driver_version --format=csv 2>&1 | tee -a "$report" >/dev/null
	say '```'
	arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' .')
fi
arch=${arch:-90}

if [ -x "$src/build-gpu/bin/dscoder-engine" ]; then
	# prebuilt by tests/gpu/prepare.sh, with its libraries; the programs find the fixtures through
	# $FIXTURES (exported below), since the path compiled in is the other machine's
	say "prebuilt programs from build-gpu/ (commit $(cat "$src/build-gpu/commit" 2>/dev/null))"
	build=$src/build-gpu/bin
	export LD_LIBRARY_PATH=$src/build-gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	# libraries the machine has elsewhere than where they were linked (NCCL from a Python wheel, say)
	for lib in $(ldd "$build/dscoder-engine" "$build"/tests/* 2>/dev/null | awk '/not found/ { print $1 }' | sort -u); do
		found=$(find /usr /opt /lib /usr/local 2>/dev/null -name "$lib" | head -n1)
		[ -n "$found" ] && export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$(dirname "$found")
	done
	step ldd 30 ldd "$build/dscoder-engine" || true
else
	# Build: autoreconf when the generated files are absent (a git checkout), then out of tree.
	if [ ! -x "$src/configure" ]; then
		step autoreconf 120 bash -c "cd '$src' && autoreconf -fi" || status=1
	fi
	say "building for sm_$arch with $jobs jobs"
	mkdir -p "$build"
	step configure 120 bash -c "cd '$build' && '$src/configure' -q --with-cuda --with-cuda-arch=$arch" ||
		{ say "configure failed (run tests/gpu/prepare.sh on a machine with the dependencies and carry build-gpu): stopping"; exit 1; }
	progs=""
	for p in dscoder-engine tests/test-cuda-kernels tests/test-cuda-forward tests/test-forward tests/test-nccl tests/f32-maxdiff \
		 tests/test-batch tests/f32-compare; do
		make -C "$build" -n "$p" >/dev/null 2>&1 && progs="$progs $p"
	done
	step build 240 make -C "$build" -j"$jobs" $progs || { say "build failed: stopping"; exit 1; }
fi
fx=${FIXTURES:-$src/tests/fixtures}
[ -d "$fx/models" ] || fx=""
say "fixtures: ${fx:-none (the whole-model parity tests will skip)}"

# GPU tests, each on its own so one failure does not hide the others; the whole-model test once more
# with the decode graph off, so a difference between recorded and eager steps shows.
export top_srcdir=$src top_builddir=$build FIXTURES=${fx:-$src/tests/fixtures}
for t in $(cd "$build" && ls tests/test-cuda-* 2>/dev/null | grep -v '\.'); do
	step "$t" 150 "$build/$t" || status=1
done
if [ -x "$build/tests/test-cuda-forward" ]; then
	step "tests/test-cuda-forward, DSCODER_CUDA_GRAPH=0" 150 env DSCODER_CUDA_GRAPH=0 "$build/tests/test-cuda-forward" || status=1
fi
step "tests/test-forward (CPU, unchanged)" 150 "$build/tests/test-forward" || status=1
# batched sequences in their own cache slots on the GPU against one at a time (tests/test-batch picks
# the CUDA backend when a GPU is visible)
if [ -x "$build/tests/test-batch" ]; then
	step "tests/test-batch (cuda)" 150 env DSCODER_BACKEND=cuda "$build/tests/test-batch" || status=1
fi
# the quantized GGUF files on the GPU against their goldens
if [ -x "$build/tests/f32-compare" ] && [ -n "$fx" ]; then
	step "GGUF fixtures on cuda" 120 env ENGINE="$build/dscoder-engine" COMPARE="$build/tests/f32-compare" \
		FIXTURES="$fx" OUT="$out" sh "$src/tests/gpu/gguf-check.sh" || status=1
fi
# out-of-bounds accesses and races of the kernels, where the runtime lets the sanitizer in
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ -n "$sanitizer" ] && [ -x "$build/tests/test-cuda-kernels" ] && [ -z "${DC_QUICK:-}" ]; then
	step "compute-sanitizer memcheck: test-cuda-kernels" 150 "$sanitizer" --tool memcheck --error-exitcode 3 \
		"$build/tests/test-cuda-kernels" || say "(memcheck above: exit 3 means errors found; 'Device not supported' means this runtime has no sanitizer)"
fi

# The synthetic Coder-V2-Lite benchmark: prefill of 512 and 4096 tokens, decode at batch 1 after each,
# GPU memory, fraction of the memory bandwidth; then the 236B model's memory plan.
engine=$build/dscoder-engine
if "$engine" --help 2>&1 | grep -q -- '--backend'; then
	step "bench: synthetic Coder-V2-Lite, BF16" 200 "$engine" --bench --synthetic lite --backend cuda || status=1
	# GGUF blocks kept on the GPU and decoded in the kernels (the formats people download)
	for q in q4_k_m q8_0; do
		step "bench: synthetic Coder-V2-Lite, $q blocks" 150 "$engine" --bench --synthetic lite-$q --backend cuda --json ||
			status=1
	done
	if [ -z "${DC_QUICK:-}" ]; then
		step "bench: the same, json" 200 "$engine" --bench --synthetic lite --backend cuda --json || status=1
		step "bench: synthetic 236B, memory plan" 60 "$engine" --bench --synthetic full --backend cuda || true
	fi
	# --serve's batching on the GPU: aggregate decode tokens/s for 1 and 8 sequences of a GGUF model
	if [ -n "$fx" ]; then
		for n in 1 8; do
			step "bench --batch $n: tiny-ds2-quant q4_k_m" 60 "$engine" --bench --batch $n --backend cuda \
				--model "$fx/models/tiny-ds2-quant/model-q4_k_m.gguf" || status=1
		done
	fi
else
	say "this dscoder-engine has no --backend option yet (backend selection not integrated): no benchmark"
	status=1
fi
if command -v nvidia-smi >/dev/null; then
	say '```'
	nvidia-smi --query-gpu=memory.used,memory.total --format=csv 2>&1 | tee -a "$report" >/dev/null
	say '```'
fi
# The multi-GPU path (NCCL, here with one GPU) against the single-GPU path; its own report.
if [ -f "$src/tests/gpu/parallel-check.sh" ]; then
	BUILD=$build OUT=$out timeout 120 bash "$src/tests/gpu/parallel-check.sh" >>"$log" 2>&1
	say "parallel-check.sh: exit $? (see parallel-report.md)"
fi
say ""
say "total $(elapsed) s, status $status"
exit $status
