#!/bin/sh
# tests/gpu/gguf-check.sh: the GGUF fixtures of tiny-ds2-quant on the CUDA backend (quantized weights
# are decoded on the host when uploaded): logits of prompt.ids with F32 device weights (--dtype f32)
# against the CPU's on the same file (float rounding only) and, with F32 and BF16 device weights,
# against the exact-math goldens within issue 11's bounds (the BF16 file's in F32: 1e-3); and a file
# with the split attn_k_b / attn_v_b layout of newer converters (--quantize --split-kv-b of
# tiny-ds2-full) against the CPU on the same file.
# Usage: ENGINE=... COMPARE=... FIXTURES=... OUT=... sh tests/gpu/gguf-check.sh
q=$FIXTURES/models/tiny-ds2-quant
status=0
# check NAME A B BOUNDS...: f32-compare, one line of result
check() {
	name=$1; shift
	if res=$("$COMPARE" "$@"); then echo "ok   $name: $res"; else echo "FAIL $name: $res"; status=1; fi
}
for t in bf16 q8_0 q4_k_m; do
	"$ENGINE" --backend cpu --model "$q/model-$t.gguf" --ids "$q/golden/prompt.ids" --logits "$OUT/cpu.f32" \
		2>"$OUT/gguf-$t-cpu.err" || { echo "FAIL model-$t.gguf on the CPU: $(tail -n 2 "$OUT/gguf-$t-cpu.err")"; status=1; }
	for dtype in f32 bf16; do
		out=$OUT/gpu.f32
		if ! "$ENGINE" --backend cuda --dtype $dtype --model "$q/model-$t.gguf" --ids "$q/golden/prompt.ids" \
			--logits "$out" 2>"$OUT/gguf-$t-$dtype.err"; then
			echo "FAIL model-$t.gguf --dtype $dtype: $(tail -n 2 "$OUT/gguf-$t-$dtype.err")"
			status=1
			continue
		fi
		# BF16 device activations and weights cost the BF16 file 0.007 mean / 0.09 max (H200)
		if [ $t = bf16 ] && [ $dtype = f32 ]; then golden="1e-3 1e-2 1"; else golden="0.05 0.5 0.9"; fi
		check "model-$t.gguf --dtype $dtype vs golden" "$out" "$q/golden/logits-$t.f32" 320 $golden
		[ $dtype = f32 ] && check "model-$t.gguf --dtype f32 vs the CPU" "$out" "$OUT/cpu.f32" 320 1e-4 1e-3 1
	done
done
full=$FIXTURES/models/tiny-ds2-full
if "$ENGINE" --quantize q8_0 --split-kv-b --model "$full" --out "$OUT/split.gguf" 2>"$OUT/split.err" &&
   "$ENGINE" --backend cpu --model "$OUT/split.gguf" --ids "$full/golden/prompt.ids" --logits "$OUT/cpu.f32" \
	2>>"$OUT/split.err" &&
   "$ENGINE" --backend cuda --dtype f32 --model "$OUT/split.gguf" --ids "$full/golden/prompt.ids" \
	--logits "$OUT/gpu.f32" 2>>"$OUT/split.err"; then
	check "split attn_k_b/attn_v_b (q8_0) --dtype f32 vs the CPU" "$OUT/gpu.f32" "$OUT/cpu.f32" 320 1e-4 1e-3 1
else
	echo "FAIL the split layout file on the GPU: $(tail -n 2 "$OUT/split.err")"
	status=1
fi
rm -f "$OUT/cpu.f32" "$OUT/gpu.f32" "$OUT/split.gguf"
exit $status
