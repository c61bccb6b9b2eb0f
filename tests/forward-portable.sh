# forward-portable.sh: the forward-pass golden tests again with the portable C kernels forced.
DSCODER_KERNELS=ref
export DSCODER_KERNELS
exec "${top_builddir:-.}/tests/test-forward"
