#!/bin/sh
# gguf-cli.sh: dscoder-engine --dequantize: every tensor of tiny-ds2-quant/dequant/ (llama.cpp's own
# dequantization) byte for byte, and one sentence with exit 1 for a missing tensor or a model that is
# not a GGUF file.
. "$top_srcdir/tests/cli-lib.sh"
quant="$models/tiny-ds2-quant"
[ -d "$quant/dequant" ] || { echo "SKIP: no fixtures at $quant"; exit 77; }

n=0
for f in "$quant"/dequant/*.f32; do
	base=$(basename "$f" .f32)
	type=${base%%.*}
	name=${base#*.}
	if "$engine" --model "$quant/model-$type.gguf" --dequantize "$name" > "$tmp/t.f32" &&
	   cmp "$f" "$tmp/t.f32"; then
		ok "--dequantize $name of model-$type.gguf equals dequant/$base.f32"
	else
		bad "--dequantize $name of model-$type.gguf differs from dequant/$base.f32"
	fi
	n=$((n + 1))
done
[ "$n" -ge 4 ] && ok "$n dequant/ files checked" || bad "only $n files in $quant/dequant"

# Errors: one line on stderr, exit 1, nothing on stdout.
refuse() {
	what=$1 pattern=$2
	shift 2
	"$engine" "$@" > "$tmp/out" 2> "$tmp/err"
	rc=$?
	if [ "$rc" -eq 1 ] && [ ! -s "$tmp/out" ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q -- "$pattern" "$tmp/err"; then
		ok "$what: $(cat "$tmp/err")"
	else
		bad "$what: exit $rc, stderr '$(cat "$tmp/err")', $(wc -c < "$tmp/out") bytes on stdout (wanted exit 1 and '$pattern')"
	fi
}
refuse "a missing tensor" "has no tensor 'blk.1.ffn_down.weight'.*blk.1.ffn_down_exps.weight" \
	--model "$quant/model-q8_0.gguf" --dequantize blk.1.ffn_down.weight
refuse "a checkpoint directory" "not a GGUF file" --model "$models/tiny-ds2-full" --dequantize token_embd.weight
refuse "a file that is not GGUF" "does not start with 'GGUF'" \
	--model "$models/tiny-ds2-full/config.json" --dequantize token_embd.weight
refuse "a model that does not exist" "does not exist" --model "$tmp/nothing.gguf" --dequantize token_embd.weight
exit $fail
