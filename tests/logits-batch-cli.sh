#!/bin/sh
# logits-batch-cli.sh: dscoder-engine --ids A,B,C --logits OUT, the batched forward pass of the
# scheduler from the command line: three sequences of different lengths (the fixture prompt, its first
# 20 ids, ids 5-47) prefilled together in their own cache slots give the logits of each run alone within
# 1e-4 and the same argmax everywhere, on the three tiny fixtures; the whole prompt's also match golden.
. "$top_srcdir/tests/cli-lib.sh"
compare="$top_builddir/tests/f32-compare"
[ -d "$models/tiny-ds2-full" ] || { echo "SKIP: no fixtures at $models"; exit 77; }

for m in full lite group; do
	dir="$models/tiny-ds2-$m"
	vocab=$(sed -n 's/.*"vocab_size": *\([0-9]*\).*/\1/p' "$dir/config.json" | head -n 1)
	tr -s ' \n' '  ' < "$dir/golden/prompt.ids" | sed 's/^ *//' > "$tmp/p.ids"
	cut -d' ' -f1-20 "$tmp/p.ids" > "$tmp/a.ids"
	cut -d' ' -f5-47 "$tmp/p.ids" > "$tmp/b.ids"
	: > "$tmp/single.f32"
	for f in p a b; do
		"$engine" --model "$dir" --ids "$tmp/$f.ids" --logits "$tmp/$f.f32" --threads 2 ||
			{ bad "tiny-ds2-$m: --ids $f.ids alone failed"; continue; }
		cat "$tmp/$f.f32" >> "$tmp/single.f32"
	done
	if "$engine" --model "$dir" --ids "$tmp/p.ids,$tmp/a.ids,$tmp/b.ids" --logits "$tmp/batch.f32" --threads 2 &&
	   out=$("$compare" "$tmp/batch.f32" "$tmp/single.f32" "$vocab" 1e-4 1e-4 1); then
		ok "tiny-ds2-$m: three sequences in one batch = each alone: $out"
	else
		bad "tiny-ds2-$m: the batch differs from the sequences alone: ${out:-the engine failed}"
	fi
	head -c "$(wc -c < "$tmp/p.f32")" "$tmp/batch.f32" > "$tmp/first.f32"
	out=$("$compare" "$tmp/first.f32" "$dir/golden/logits.f32" "$vocab" 1e-4 1e-3 1) &&
		ok "tiny-ds2-$m: the batch's first sequence against golden: $out" ||
		bad "tiny-ds2-$m: the batch's first sequence against golden: $out"
done
# a missing file is named, and nothing is written
"$engine" --model "$models/tiny-ds2-full" --ids "$tmp/a.ids,$tmp/none.ids" --logits "$tmp/x.f32" 2> "$tmp/err"
[ $? -eq 1 ] && grep -q "none.ids" "$tmp/err" && [ ! -e "$tmp/x.f32" ] &&
	ok "a missing file of the batch is named: $(cat "$tmp/err")" || bad "a missing file: $(cat "$tmp/err")"
exit $fail
