#!/bin/sh
# simulate-cli.sh: dscoder-engine --simulate-ranks 2 and 4 on the three fixtures: --logits within 1e-4
# of the unsharded run, --greedy 24 and a seeded --generate identical; --plan for the released configs;
# bad parallel options refused with a sentence.
. "$top_srcdir/tests/cli-lib.sh"
[ -d "$models" ] || { echo "SKIP: no fixtures at $models"; exit 77; }

for m in tiny-ds2-full tiny-ds2-lite tiny-ds2-group; do
	dir="$models/$m"
	ids="$dir/golden/prompt.ids"
	"$engine" --model "$dir" --ids "$ids" --logits "$tmp/one.f32" --threads 2 || bad "$m: unsharded --logits failed"
	one=$("$engine" --model "$dir" --ids "$ids" --greedy 24 --threads 2)
	gen1=$("$engine" --model "$dir" --generate "def fib(n):" --max-tokens 12 --temperature 0.8 --seed 7 --threads 2)
	[ -n "$one" ] && [ -n "$gen1" ] || bad "$m: the unsharded --greedy or --generate printed nothing"
	for n in 2 4; do
		if "$engine" --model "$dir" --ids "$ids" --logits "$tmp/sim.f32" --simulate-ranks $n --threads 2 &&
		   "$maxdiff" "$tmp/sim.f32" "$tmp/one.f32" 1e-4; then
			ok "$m: --simulate-ranks $n --logits within 1e-4 of the unsharded run"
		else
			bad "$m: --simulate-ranks $n --logits differ from the unsharded run"
		fi
		got=$("$engine" --model "$dir" --ids "$ids" --greedy 24 --simulate-ranks $n --threads 2)
		[ -n "$got" ] && [ "$got" = "$one" ] && ok "$m: --simulate-ranks $n --greedy 24 equals the unsharded ids" \
			|| bad "$m: --simulate-ranks $n --greedy 24: got '$got', want '$one'"
		got=$("$engine" --model "$dir" --generate "def fib(n):" --max-tokens 12 --temperature 0.8 --seed 7 \
			--threads 2 --simulate-ranks $n)
		[ "$got" = "$gen1" ] && ok "$m: --simulate-ranks $n --generate gives the same answer" \
			|| bad "$m: --simulate-ranks $n --generate: got '$got', want '$gen1'"
	done
done

# more ranks than heads (the fixtures have 4): one sentence, status 1
dir="$models/tiny-ds2-full"
if "$engine" --model "$dir" --ids "$dir/golden/prompt.ids" --greedy 2 --simulate-ranks 5 2> "$tmp/err"; then
	bad "--simulate-ranks 5 with 4 heads was accepted"
else
	grep -q "heads" "$tmp/err" && ok "--simulate-ranks 5 refused: $(cat "$tmp/err")" || bad "--simulate-ranks 5: unclear error: $(cat "$tmp/err")"
fi
"$engine" --simulate-ranks 0 --model "$dir" --ids "$dir/golden/prompt.ids" --greedy 2 2> "$tmp/err" \
	&& bad "--simulate-ranks 0 accepted" || ok "--simulate-ranks 0 refused: $(cat "$tmp/err")"

# --plan: the 236B model on 8 x 80 GiB at 128K fits, on 4 it does not; the figures of test-plan.c
"$engine" --plan --synthetic full --gpus 8 --ctx 131072 > "$tmp/plan" || bad "--plan full 8 failed"
grep -q "^fits: yes" "$tmp/plan" && ok "236B fits 8 x 80 GiB at 128K" || bad "236B on 8 GPUs: $(tail -1 "$tmp/plan")"
grep -q "^0 .* 57\.73 .* 16\.88 " "$tmp/plan" && ok "rank 0: 57.73 GiB of weights, 16.88 GiB of cache" \
	|| bad "rank 0 line: $(grep '^0 ' "$tmp/plan")"
"$engine" --plan --synthetic full --devices 0,1,2,3 --ctx 131072 > "$tmp/plan" || bad "--plan full 4 failed"
grep -q "^fits: NO" "$tmp/plan" && ok "236B does not fit 4 x 80 GiB" || bad "236B on 4 GPUs: $(tail -1 "$tmp/plan")"
"$engine" --plan --model "$dir" --gpus 2 --ctx 64 > "$tmp/plan" && grep -q "^1 " "$tmp/plan" \
	&& ok "--plan of a checkpoint directory" || bad "--plan --model failed"
"$engine" --plan --synthetic huge 2> "$tmp/err" && bad "--synthetic huge accepted" || ok "--synthetic huge refused: $(cat "$tmp/err")"
exit $fail
