# forward-avx2.sh: the forward-pass tests again with the AVX2 kernels forced, so that a machine with
# AVX-512 also checks the set that CPUs without it run (its matrix products and tiles).
grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && grep -qw f16c /proc/cpuinfo || {
	echo "SKIP: this CPU lacks AVX2/FMA/F16C"
	exit 77
}
DSCODER_KERNELS=avx2
export DSCODER_KERNELS
b=${top_builddir:-.}/tests
"$b/test-fwd-synth" || exit 1
exec "$b/test-forward"
