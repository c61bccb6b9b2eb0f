# forward-portable.sh: the forward-pass tests again with the portable C kernels forced.
DSCODER_KERNELS=ref
export DSCODER_KERNELS
b=${top_builddir:-.}/tests
"$b/test-fwd-synth" || exit 1
exec "$b/test-forward"
