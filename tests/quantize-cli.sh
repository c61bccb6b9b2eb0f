#!/bin/sh
# quantize-cli.sh: dscoder-engine --quantize end to end. The file it writes loads in the engine and
# gives logits close to the source checkpoint's; --dequantize of its tensors is within half of each
# block's step of the source weights (tests/quant-error).
#  - tiny-ds2-full (F32) and tiny-ds2-lite (BF16): rows of 64, 48, 32, 96 and 24 columns, so every
#    K-quant matrix falls back as llama.cpp's quantizer does (Q4_K to Q5_0, Q6_K to Q8_0, and the
#    24-column ffn_down_exps to F16).
#    --quantize f32 of tiny-ds2-full is the F32 model.gguf twin tensor for tensor.
#  - a checkpoint made here by tools/gen-checkpoint.py with rows of 256 (the shape of
#    tiny-ds2-quant), so Q4_K and Q6_K are written and read, but experts 288 wide: as in
#    Coder-V2-Lite (1408), their ffn_down is not whole blocks of 256 and takes Q5_0 or Q8_0.
. "$top_srcdir/tests/cli-lib.sh"
compare="$top_builddir/tests/f32-compare"
qerror="$top_builddir/tests/quant-error"
[ -d "$models/tiny-ds2-full" ] || { echo "SKIP: no fixtures at $models"; exit 77; }

# quantize DIR TYPE OUT [OPTION]: --quantize, with its progress line on stderr
quantize() {
	if "$engine" --quantize "$2" --model "$1" --out "$3" $4 2> "$tmp/qerr" &&
	   grep -q "^quantizing: [0-9]*/[0-9]* tensors, [0-9.]* [MG]B" "$tmp/qerr"; then
		ok "--quantize $2 $4 $(basename "$1"): $(tail -n 1 "$tmp/qerr")"
	else
		bad "--quantize $2 $4 $(basename "$1"): $(cat "$tmp/qerr")"
		return 1
	fi
}

# logits GGUF PROMPT REFERENCE MEAN MAX TOP1: --logits of the file against the reference logits
logits() {
	if "$engine" --model "$1" --ids "$2" --logits "$tmp/logits.f32" --threads 2 &&
	   out=$("$compare" "$tmp/logits.f32" "$3" 320 "$4" "$5" "$6"); then
		ok "$(basename "$1") logits: $out"
	else
		bad "$(basename "$1") logits: ${out:-the engine failed}"
	fi
}

# within TYPE SRC_GGUF QUANT_GGUF TENSOR: the tensor of the quantized file within half a step of the
# same tensor in the F32 (or BF16) file
within() {
	if "$engine" --model "$2" --dequantize "$4" > "$tmp/src.f32" &&
	   "$engine" --model "$3" --dequantize "$4" > "$tmp/deq.f32" &&
	   out=$("$qerror" "$1" "$tmp/src.f32" "$tmp/deq.f32"); then
		ok "$(basename "$3") $4: $out"
	else
		bad "$(basename "$3") $4: ${out:-cannot dequantize it}"
	fi
}

# Rows that are not whole K-quant blocks. The tiny models are chaotic (random weights, routed
# scaling 16 on tiny-ds2-full): rounding the weights to BF16 alone (~0.2% RMS) moves tiny-ds2-full's
# logits by 0.03 on average and 1.1 at most. Q8_0 (~0.6% RMS) moves them about 2.5 times as much,
# measured 0.074 / 1.6 (full) and 0.048 / 0.39 (lite); the bounds leave room of about 1.5x.
full="$models/tiny-ds2-full"
lite="$models/tiny-ds2-lite"
quantize "$full" f32 "$tmp/full-f32.gguf" &&
	logits "$tmp/full-f32.gguf" "$full/golden/prompt.ids" "$full/golden/logits.f32" 1e-5 1e-3 1
for t in token_embd.weight blk.1.ffn_down_exps.weight blk.3.attn_kv_b.weight output.weight; do
	"$engine" --model "$full/model.gguf" --dequantize $t > "$tmp/a.f32"
	"$engine" --model "$tmp/full-f32.gguf" --dequantize $t > "$tmp/b.f32"
	cmp -s "$tmp/a.f32" "$tmp/b.f32" && ok "--quantize f32: $t equals model.gguf's" || bad "--quantize f32: $t differs from model.gguf's"
done
# Group-limited routing and norm_topk_prob travel in the file's own keys (expert_group_count,
# expert_group_used_count, expert_weights_norm): no config.json lies beside it in $tmp.
group="$models/tiny-ds2-group"
quantize "$group" f32 "$tmp/group-f32.gguf" &&
	logits "$tmp/group-f32.gguf" "$group/golden/prompt.ids" "$group/golden/logits.f32" 1e-5 1e-3 1
# Q4_K_M's fallback, Q5_0 (4.4% RMS), moves them about 7 times as much as Q8_0: measured 0.375 / 4.3
# (full) and 0.34 / 2.6 (lite), top-1 51% and 43%; the bounds again leave about 1.5x. The exact
# check of Q5_0 is the Lite-shaped checkpoint below, whose logits are not chaotic.
for m in full lite; do
	dir="$models/tiny-ds2-$m"
	[ $m = full ] && bounds="0.12 2.5 0.75" || bounds="0.08 0.6 0.8"
	[ $m = full ] && bounds_k="0.55 6.5 0.3" || bounds_k="0.5 3.9 0.3"
	quantize "$dir" q8_0 "$tmp/$m-q8_0.gguf" &&
		logits "$tmp/$m-q8_0.gguf" "$dir/golden/prompt.ids" "$dir/golden/logits.f32" $bounds
	quantize "$dir" q4_k_m "$tmp/$m-q4_k_m.gguf" &&
		logits "$tmp/$m-q4_k_m.gguf" "$dir/golden/prompt.ids" "$dir/golden/logits.f32" $bounds_k
done
quantize "$full" q8_0 "$tmp/full-q8_0.gguf" && within q8_0 "$full/model.gguf" "$tmp/full-q8_0.gguf" blk.2.attn_q_b.weight
quantize "$lite" bf16 "$tmp/lite-bf16.gguf" &&
	within q5_0 "$tmp/lite-bf16.gguf" "$tmp/lite-q4_k_m.gguf" blk.5.ffn_up_exps.weight
# the 24-column experts' down projection falls back to F16 (not whole blocks of 32): within F16's
# rounding, |x| 2^-11 (under 2e-5 for these weights) or 2^-25 for the subnormal ones
"$engine" --model "$tmp/lite-bf16.gguf" --dequantize blk.5.ffn_down_exps.weight > "$tmp/a.f32"
"$engine" --model "$tmp/lite-q4_k_m.gguf" --dequantize blk.5.ffn_down_exps.weight > "$tmp/b.f32"
out=$("$maxdiff" "$tmp/a.f32" "$tmp/b.f32" 2e-5) && ok "24-column ffn_down_exps falls back to F16: $out" \
	|| bad "24-column ffn_down_exps of the q4_k_m file is not the BF16 source in F16: $out"

# Whole K-quant blocks: a random BF16 checkpoint with tiny-ds2-quant's shape and tiny-ds2-full's
# tokenizer. Its logits spread 0.27 (standard deviation); measured against the checkpoint itself:
# Q8_0 0.0025 mean / 0.013 max, Q6_K 0.012 / 0.058, Q4_K_M 0.040 / 0.18 (llama.cpp's own Q4_K_M of
# tiny-ds2-quant is 0.36 / 2.9 on logits that spread 0.99). Bounds about 2.5x, as the weights are
# random; top-1 is not bounded for the K-quants since these logits are nearly flat (many near ties).
if ! command -v python3 > /dev/null; then
	echo "SKIP the K-quant checkpoint: no python3 for tools/gen-checkpoint.py"
	exit $fail
fi
kq="$tmp/kq"
python3 "$top_srcdir/tools/gen-checkpoint.py" --preset small --tokenizer "$full" --seed 7 --vocab-size 320 \
	--hidden-size 256 --intermediate-size 512 --moe-intermediate-size 288 --num-hidden-layers 3 \
	--num-attention-heads 4 --n-shared-experts 1 --n-routed-experts 4 --num-experts-per-tok 4 \
	--q-lora-rank 256 --kv-lora-rank 256 --qk-nope-head-dim 64 --qk-rope-head-dim 32 --v-head-dim 64 \
	"$kq" > /dev/null 2>&1 || { bad "tools/gen-checkpoint.py failed"; exit 1; }
sed 's/"bos_token_id": [0-9]*/"bos_token_id": 295/; s/"eos_token_id": [0-9]*/"eos_token_id": 296/' \
	"$kq/config.json" > "$tmp/config.json" && mv "$tmp/config.json" "$kq/config.json"
prompt="$full/golden/prompt.ids"
"$engine" --model "$kq" --ids "$prompt" --logits "$tmp/kq.f32" --threads 2 || bad "the generated checkpoint does not run"
quantize "$kq" bf16 "$tmp/kq-bf16.gguf" && logits "$tmp/kq-bf16.gguf" "$prompt" "$tmp/kq.f32" 1e-5 1e-4 1
quantize "$kq" q8_0 "$tmp/kq-q8_0.gguf" && logits "$tmp/kq-q8_0.gguf" "$prompt" "$tmp/kq.f32" 0.01 0.05 0.9
quantize "$kq" q6_k "$tmp/kq-q6_k.gguf" && logits "$tmp/kq-q6_k.gguf" "$prompt" "$tmp/kq.f32" 0.03 0.15 0
quantize "$kq" q4_k_m "$tmp/kq-q4_k_m.gguf" && logits "$tmp/kq-q4_k_m.gguf" "$prompt" "$tmp/kq.f32" 0.1 0.45 0
for t in token_embd.weight blk.1.ffn_gate_exps.weight blk.2.attn_kv_b.weight; do
	within q8_0 "$tmp/kq-bf16.gguf" "$tmp/kq-q8_0.gguf" $t
	within q4_K "$tmp/kq-bf16.gguf" "$tmp/kq-q4_k_m.gguf" $t
	within q6_K "$tmp/kq-bf16.gguf" "$tmp/kq-q6_k.gguf" $t
done
# Q4_K_M's Q6_K tensors, as llama.cpp chooses them: output.weight and the last layer's ffn_down;
# ffn_down of the 288-wide experts falls back as llama.cpp's does: Q6_K to Q8_0, Q4_K to Q5_0
within q6_K "$tmp/kq-bf16.gguf" "$tmp/kq-q4_k_m.gguf" output.weight
within q8_0 "$tmp/kq-bf16.gguf" "$tmp/kq-q4_k_m.gguf" blk.2.ffn_down_exps.weight
within q5_0 "$tmp/kq-bf16.gguf" "$tmp/kq-q4_k_m.gguf" blk.1.ffn_down_exps.weight
within q5_0 "$tmp/kq-bf16.gguf" "$tmp/kq-q4_k_m.gguf" blk.1.ffn_down_shexp.weight

# Q5_K_M: Q5_K matrices, Q6_K where Q4_K_M has them, and llama.cpp's fallback for Q5_K, Q5_1, where
# rows are not whole blocks of 256. Measured against the checkpoint: 0.020 mean / 0.088 max (between
# Q6_K and Q4_K_M, as its bits are).
quantize "$kq" q5_k_m "$tmp/kq-q5_k_m.gguf" && logits "$tmp/kq-q5_k_m.gguf" "$prompt" "$tmp/kq.f32" 0.05 0.25 0
for t in token_embd.weight blk.1.ffn_gate_exps.weight blk.2.attn_kv_b.weight; do
	within q5_K "$tmp/kq-bf16.gguf" "$tmp/kq-q5_k_m.gguf" $t
done
within q6_K "$tmp/kq-bf16.gguf" "$tmp/kq-q5_k_m.gguf" output.weight
within q8_0 "$tmp/kq-bf16.gguf" "$tmp/kq-q5_k_m.gguf" blk.2.ffn_down_exps.weight
within q5_1 "$tmp/kq-bf16.gguf" "$tmp/kq-q5_k_m.gguf" blk.1.ffn_down_exps.weight
within q5_1 "$tmp/kq-bf16.gguf" "$tmp/kq-q5_k_m.gguf" blk.1.ffn_down_shexp.weight
# Its Q5_K and Q5_1 through each kernel set this CPU runs, on the 47-token prompt (the prefill forms)
# and on its first 9 tokens (fewer than 10 a product: the decode forms): the exact sets within F32
# rounding of the portable reference (measured 6e-7 max), the opt-in int8 sets (activations rounded
# to 8 bits) within the int8 bounds of int8-logits.sh (measured 0.003 mean, 0.015 max) and not equal
# to the exact logits
cut -d' ' -f1-9 "$prompt" > "$tmp/p9.ids"
for p in "$prompt" "$tmp/p9.ids"; do
	n=$(wc -w < "$p")
	"$engine" --model "$tmp/kq-q5_k_m.gguf" --ids "$p" --logits "$tmp/q5-ref.f32" --threads 2 --kernels ref ||
		bad "the q5_k_m file on the reference kernels failed"
	for set in avx2 avx512 avx2-int8 avx512-int8; do
		case $set in *int8) bounds="0.05 0.5 0";; *) bounds="1e-5 1e-4 1";; esac
		if "$engine" --model "$tmp/kq-q5_k_m.gguf" --ids "$p" --logits "$tmp/q5-$set.f32" --threads 2 \
			--kernels $set 2> "$tmp/err"; then
			out=$("$compare" "$tmp/q5-$set.f32" "$tmp/q5-ref.f32" 320 $bounds) &&
				ok "q5_k_m file, $n tokens, $set kernels against the reference: $out" ||
				bad "q5_k_m file, $n tokens, $set kernels against the reference: $out"
			case $set in *int8)
				"$compare" "$tmp/q5-$set.f32" "$tmp/q5-ref.f32" 320 0.0001 1000 0 > "$tmp/same" &&
					bad "q5_k_m file: --kernels $set gave the exact logits ($(cat "$tmp/same")): was it used?";;
			esac
		else
			grep -q "lacks" "$tmp/err" && echo "(no $set here)" || bad "q5_k_m file, --kernels $set: $(cat "$tmp/err")"
		fi
	done
done

# --split-kv-b: kv_b_proj as newer converters write it, each head's key part transposed (attn_k_b,
# rows of nope = 64: Q8_0, or Q5_0 in Q4_K_M) and its value part (attn_v_b, rows of kv_rank = 256).
# BF16 gives the checkpoint's logits as the legacy layout does, so the transposition is right; the
# quantized files stay within the legacy files' bounds; each split tensor is within half a step of the
# BF16 split file's.
quantize "$kq" bf16 "$tmp/kqs-bf16.gguf" --split-kv-b &&
	logits "$tmp/kqs-bf16.gguf" "$prompt" "$tmp/kq.f32" 1e-5 1e-4 1
quantize "$kq" q8_0 "$tmp/kqs-q8_0.gguf" --split-kv-b &&
	logits "$tmp/kqs-q8_0.gguf" "$prompt" "$tmp/kq.f32" 0.01 0.05 0.9
quantize "$kq" q4_k_m "$tmp/kqs-q4_k_m.gguf" --split-kv-b &&
	logits "$tmp/kqs-q4_k_m.gguf" "$prompt" "$tmp/kq.f32" 0.1 0.45 0
# tensor parallel: each rank's heads are rows of attn_k_b and attn_v_b
"$engine" --model "$tmp/kqs-q8_0.gguf" --ids "$prompt" --logits "$tmp/kqs-1.f32" --threads 2 &&
"$engine" --model "$tmp/kqs-q8_0.gguf" --ids "$prompt" --logits "$tmp/kqs-2.f32" --threads 1 --simulate-ranks 2 &&
	out=$("$maxdiff" "$tmp/kqs-1.f32" "$tmp/kqs-2.f32" 1e-5) && ok "split layout on 2 ranks: $out" ||
	bad "split layout on 2 ranks: ${out:-the engine failed}"
within q8_0 "$tmp/kqs-bf16.gguf" "$tmp/kqs-q8_0.gguf" blk.2.attn_k_b.weight
within q8_0 "$tmp/kqs-bf16.gguf" "$tmp/kqs-q8_0.gguf" blk.2.attn_v_b.weight
within q5_0 "$tmp/kqs-bf16.gguf" "$tmp/kqs-q4_k_m.gguf" blk.1.attn_k_b.weight
within q4_K "$tmp/kqs-bf16.gguf" "$tmp/kqs-q4_k_m.gguf" blk.1.attn_v_b.weight
"$engine" --model "$kq" --split-kv-b --generate hi 2> "$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q -- "--quantize" "$tmp/err" && ok "--split-kv-b alone: $(cat "$tmp/err")" || bad "--split-kv-b alone: exit $rc, $(cat "$tmp/err")"

# The file reads as a whole model: its own tokenizer (tokenizer.ggml.*) gives the prompt's ids.
got=$("$engine" --model "$tmp/kq-q4_k_m.gguf" --tokenize < "$full/golden/prompt.txt")
want=$(tr -s ' \n' '  ' < "$full/golden/prompt.ids" | sed 's/ *$//')
[ "$got" = "$want" ] && ok "--tokenize on the q4_k_m file alone gives prompt.ids" || bad "--tokenize on the file: got '$got'"

# The released Coder-V2 tokenizer (its pre-tokenizer as published, with the normalised letter class):
# named deepseek-llm, and the file alone tokenizes the tokenizer fixtures' texts as the directory does.
real="$FIXTURES/tokenizer/deepseek-coder-v2"
if python3 "$top_srcdir/tools/gen-checkpoint.py" --preset small --tokenizer "$real" --hidden-size 256 \
	--intermediate-size 512 --moe-intermediate-size 256 --kv-lora-rank 256 "$tmp/cv2" > /dev/null 2>&1 &&
   quantize "$tmp/cv2" q4_k_m "$tmp/cv2.gguf"; then
	for f in "$real/code.inp" "$real/cases.inp"; do
		"$engine" --model "$tmp/cv2" --tokenize < "$f" > "$tmp/a.ids"
		"$engine" --model "$tmp/cv2.gguf" --tokenize < "$f" > "$tmp/b.ids"
		[ -s "$tmp/a.ids" ] && cmp -s "$tmp/a.ids" "$tmp/b.ids" &&
			ok "Coder-V2 tokenizer: the file tokenizes $(basename "$f") as the directory does" ||
			bad "Coder-V2 tokenizer: the file tokenizes $(basename "$f") differently"
	done
fi
rm -rf "$tmp/cv2" "$tmp/cv2.gguf"

# Mistakes: one sentence, exit 1, no file left.
"$engine" --quantize q3_k --model "$full" --out "$tmp/x.gguf" 2> "$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "q4_k_m, q5_k_m, q8_0" "$tmp/err" && ok "an unknown type: $(cat "$tmp/err")" || bad "an unknown type: exit $rc, $(cat "$tmp/err")"
"$engine" --quantize q8_0 --model "$full" 2> "$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q -- "--out" "$tmp/err" && ok "no --out: $(cat "$tmp/err")" || bad "no --out: exit $rc"
"$engine" --quantize q8_0 --model "$full/model.gguf" --out "$tmp/x.gguf" 2> "$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "is a GGUF file" "$tmp/err" && ok "a GGUF source: $(cat "$tmp/err")" || bad "a GGUF source: exit $rc, $(cat "$tmp/err")"
"$engine" --quantize q8_0 --model "$full" --out "$tmp/no/such/dir/x.gguf" 2> "$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && ok "an unwritable --out: $(cat "$tmp/err")" || bad "an unwritable --out: exit $rc, $(cat "$tmp/err")"
[ ! -e "$tmp/x.gguf" ] && ok "no file left after the mistakes" || bad "a file was left at $tmp/x.gguf"
exit $fail
