#!/usr/bin/env bash
# tests/gpu/device-check.sh: the CUDA backend's check on a GPU machine, in one run of at most 8 minutes:
# configure with CUDA for this GPU's architecture, build, run the GPU tests (per-kernel against the CPU,
# whole-model parity on the fixtures) and the synthetic Coder-V2-Lite benchmark, and write a report
# to $OUT/device-report.md (logs beside it). Run from the repository root:
#     OUT=/tmp/out bash tests/gpu/device-check.sh
# The fixtures are looked for in $FIXTURES, ../shared/fixtures, then .fixtures (a copy carried along).
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
say "building for sm_$arch with $jobs jobs"

# Fixtures: the tests read $abs_top_srcdir/../shared/fixtures; a carried copy stands in for it.
if [ -n "${FIXTURES:-}" ] && [ -d "$FIXTURES" ]; then fx=$FIXTURES
elif [ -d "$src/../shared/fixtures" ]; then fx=$src/../shared/fixtures
elif [ -d "$src/.fixtures" ]; then
	mkdir -p "$src/../shared" && ln -sfn "$src/.fixtures" "$src/../shared/fixtures" && fx=$src/../shared/fixtures
else fx=""; fi
say "fixtures: ${fx:-none (the whole-model parity tests will skip)}"

# Build: autoreconf when the generated files are absent (a git checkout), then out of tree.
if [ ! -x "$src/configure" ]; then
	step autoreconf 120 bash -c "cd '$src' && autoreconf -fi" || status=1
fi
mkdir -p "$build"
step configure 120 bash -c "cd '$build' && '$src/configure' -q --with-cuda --with-cuda-arch=$arch" || { say "configure failed: stopping"; exit 1; }
step build 240 make -C "$build" -j"$jobs" dscoder-engine tests/test-cuda-kernels tests/test-forward \
	$(grep -o 'tests/test-cuda-[a-z-]*' "$build/Makefile" | sort -u | grep -v '\.' | tr '\n' ' ') || { say "build failed: stopping"; exit 1; }

# GPU tests, each on its own so one failure does not hide the others.
export top_srcdir=$src top_builddir=$build FIXTURES=${fx:-$src/../shared/fixtures}
for t in $(cd "$build" && ls tests/test-cuda-* 2>/dev/null | grep -v '\.'); do
	step "$t" 120 "$build/$t" || status=1
done

# The synthetic Coder-V2-Lite benchmark: prefill of 512 and 4096 tokens, decode at batch 1 after a
# short and after a 4096-token context, GPU memory, fraction of the memory bandwidth.
engine=$build/dscoder-engine
if "$engine" --help 2>&1 | grep -q -- '--synthetic'; then
	step "bench lite, 512-token prompt" 120 "$engine" --bench --synthetic lite --backend cuda --prompt-tokens 512 || status=1
	step "bench lite, 4096-token prompt" 150 "$engine" --bench --synthetic lite --backend cuda --prompt-tokens 4096 || status=1
	step "bench lite, json" 150 "$engine" --bench --synthetic lite --backend cuda --prompt-tokens 4096 --json || status=1
	step "memory plan of the 236B model" 60 "$engine" --bench --synthetic full --backend cuda || true
else
	say "this dscoder-engine has no --synthetic option yet: no benchmark"
	status=1
fi
if command -v nvidia-smi >/dev/null; then
	say '```'
	nvidia-smi --query-gpu=memory.used,memory.total --format=csv 2>&1 | tee -a "$report" >/dev/null
	say '```'
fi
say ""
say "total $(elapsed) s, status $status"
exit $status
