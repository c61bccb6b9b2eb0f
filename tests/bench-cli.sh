#!/bin/sh
# bench-cli.sh: dscoder-engine --bench on the CPU: the JSON report is whole and consistent (bytes per
# token from the file's own types, the bandwidth figures derived from each other, the machine's
# bandwidth the larger of the probes before and after the decode, the profile's classes within the
# time they split, the bytes by class adding up to the bytes per token, the latent cache read counted
# with the weights and growing with --prompt-tokens),
# the text report says the same, both name the kernel set, rounds (--rounds R) report one round's figures
# inside their spread, a batch curve (--batch N1,N2,...) is whole, bad sizes and a context too small
# are refused. Nothing here
# asserts a speed: only what the numbers must satisfy on any machine.
. "$top_srcdir/tests/cli-lib.sh"
quant="$models/tiny-ds2-quant"
[ -f "$quant/model-q4_k_m.gguf" ] || { echo "SKIP: no fixtures at $quant"; exit 77; }

for t in bf16 q8_0 q4_k_m; do
	"$engine" --model "$quant/model-$t.gguf" --bench --json --profile --threads 2 --max-tokens 4 \
		> "$tmp/$t.json" 2> "$tmp/$t.err" || bad "--bench --json on model-$t.gguf failed: $(cat "$tmp/$t.err")"
done

out=$(python3 - "$tmp" <<'EOF'
import json, sys
d = {t: json.load(open('%s/%s.json' % (sys.argv[1], t))) for t in ('bf16', 'q8_0', 'q4_k_m')}
bad = []
for t, j in d.items():
    for k in ('prefill_tokens', 'prefill_tps', 'decode_tokens', 'decode_tps', 'weight_bytes', 'bytes_per_token',
              'weight_bytes_per_token', 'cache_bytes_per_token', 'machine_bw_gbs', 'machine_bw_before_gbs', 'machine_bw_after_gbs', 'decode_bw_gbs', 'bw_fraction',
              'prefill_ms_per_token', 'decode_ms_per_token'):
        if k not in j:
            bad.append('%s: no %s' % (t, k))
    if bad:
        continue
    if not (isinstance(j.get('cpu'), str) and j['cpu']):
        bad.append('%s: no processor name (cpu) in %s' % (t, j))
    if j['prefill_tokens'] != 512 or j['decode_tokens'] != 4 or j['threads'] != 2:
        bad.append('%s: 512 prompt tokens, 4 decoded, 2 threads expected, got %s' % (t, j))
    if not (j['prefill_tps'] > 0 and j['decode_tps'] > 0):
        bad.append('%s: tokens/s not positive' % t)
    if not (0 < j['weight_bytes_per_token'] <= j['weight_bytes']):
        bad.append('%s: weight bytes per token %s outside (0, weights %s]' % (t, j['weight_bytes_per_token'],
                                                                           j['weight_bytes']))
    if not (j['cache_bytes_per_token'] > 0 and
            abs(j['bytes_per_token'] - j['weight_bytes_per_token'] - j['cache_bytes_per_token']) <= 1):
        bad.append('%s: bytes per token %s are not weights %s + latent cache %s' %
                   (t, j['bytes_per_token'], j['weight_bytes_per_token'], j['cache_bytes_per_token']))
    bw = j['bytes_per_token'] * j['decode_tps'] / 1e9
    if abs(j['decode_bw_gbs'] - bw) > 0.006 + 0.01 * bw:
        bad.append('%s: decode_bw_gbs %s is not bytes/token x tokens/s = %.3f' % (t, j['decode_bw_gbs'], bw))
    if abs(j['machine_bw_gbs'] - max(j['machine_bw_before_gbs'], j['machine_bw_after_gbs'])) > 0.006:
        bad.append('%s: machine_bw_gbs is not the larger probe' % t)
    if j['machine_bw_gbs'] <= 0 or abs(j['bw_fraction'] - j['decode_bw_gbs'] / j['machine_bw_gbs']) > 0.002 + 0.01 * j['bw_fraction']:
        bad.append('%s: bw_fraction %s is not decode / machine bandwidth' % (t, j['bw_fraction']))
    for phase, tps, n in (('decode', j['decode_tps'], 4), ('prefill', j['prefill_tps'], 512)):
        p = j[phase + '_ms_per_token']
        for c in ('attention', 'mla', 'router', 'experts', 'shared', 'dense', 'head', 'sampling', 'other'):
            if c not in p or p[c] < 0:
                bad.append('%s: %s profile lacks %s' % (t, phase, c))
        # classes split the whole; a clock read apart from it may add a little
        if sum(p.values()) > 1000.0 / tps * 1.05 + 0.01:
            bad.append('%s: %s classes sum to %.4f ms, more than the %.4f ms per token' %
                       (t, phase, sum(p.values()), 1000.0 / tps))
    # the bytes a decoded token reads, by class: they add up to bytes_per_token, the latent cache with
    # the attention (mla); each class's GB/s is its bytes over its time
    mb, gbs, ms = j.get('decode_mb_per_token_by_class'), j.get('decode_gbs_by_class'), j['decode_ms_per_token']
    if mb is None or gbs is None or set(mb) != set(ms) or set(gbs) != set(ms):
        bad.append('%s: decode bytes or GB/s by class missing or not the profile\'s classes' % t)
        continue
    if abs(sum(mb.values()) - j['bytes_per_token'] / 1e6) > 0.001:
        bad.append('%s: bytes by class sum to %.4f MB, not the %.4f MB per token' %
                   (t, sum(mb.values()), j['bytes_per_token'] / 1e6))
    if mb['mla'] < j['cache_bytes_per_token'] / 1e6 - 0.0001 or min(mb['attention'], mb['experts'], mb['head']) <= 0:
        bad.append('%s: implausible bytes by class %s' % (t, mb))
    for c in ms:
        if ms[c] >= 0.05 and abs(gbs[c] - mb[c] / ms[c]) > 0.02 * gbs[c] + 0.01:
            bad.append('%s: %s reads %s GB/s, not its %.4f MB over %.3f ms' % (t, c, gbs[c], mb[c], ms[c]))
# the same model in three types: the bytes read per token follow the types (BF16 2 bytes a weight,
# Q8_0 34 per 32, Q4_K_M about 4.5-6.5 bits), not the element count
b = {t: d[t]['weight_bytes_per_token'] for t in d} if not bad else {}
# the cache is F32 whatever the weights' type
if not bad and len({d[t]['cache_bytes_per_token'] for t in d}) != 1:
    bad.append('the latent cache read differs with the weight type: %s' % {t: d[t]['cache_bytes_per_token'] for t in d})
if b and not (b['q4_k_m'] < b['q8_0'] < b['bf16']):
    bad.append('bytes per token do not follow the types: %s' % b)
if b and not (0.45 < b['q8_0'] / b['bf16'] < 0.65):
    bad.append('Q8_0 reads %.3f of the BF16 bytes, about 0.53 expected' % (b['q8_0'] / b['bf16']))
print('; '.join(bad) if bad else 'ok %s' % ', '.join('%s %.0f bytes/token' % kv for kv in b.items()))
EOF
)
case "$out" in
ok*) ok "--bench --json: consistent figures: ${out#ok }" ;;
*) bad "--bench --json: $out" ;;
esac

# the text report names the same figures
if "$engine" --model "$quant/model-q8_0.gguf" --bench --threads 1 --max-tokens 2 > "$tmp/text" 2> "$tmp/err" &&
   grep -q "^decode .* tokens/s" "$tmp/text" &&
   grep -Eq "^read/token .* MB per decoded token: [0-9.]+ MB of weights, [0-9.]+ MB of latent cache \(f32\)$" "$tmp/text" &&
   grep -Eq "^bandwidth .* GB/s measured \([0-9.]+ before, [0-9.]+ after\): [0-9]+%" "$tmp/text"; then
	ok "--bench text report: $(grep '^bandwidth' "$tmp/text")"
else
	bad "--bench text report: $(cat "$tmp/text" "$tmp/err")"
fi

# --prompt-tokens: the prompt of that length (chunks of 512 on the CPU: 600 takes two), and decode
# after it reads the cache rows up to each token's position: layers x (kv_rank + rope) F32 per row,
# over P + (D + 1) / 2 rows on average for D tokens after a P-token prompt
for p in 40 600; do
	"$engine" --model "$quant/model-q8_0.gguf" --bench --json --prompt-tokens $p --threads 2 --max-tokens 5 \
		> "$tmp/p$p.json" 2> "$tmp/err" || bad "--bench --prompt-tokens $p failed: $(cat "$tmp/err")"
done
out=$(python3 - "$tmp" <<'EOF'
import json, sys
d = {p: json.load(open('%s/p%d.json' % (sys.argv[1], p))) for p in (40, 600)}
bad = []
for p, j in d.items():
    if j['prefill_tokens'] != p or j['decode_tokens'] != 5 or not j['prefill_tps'] > 0:
        bad.append('%d-token prompt expected, 5 decoded: %s' % (p, j))
per_row = {p: d[p]['cache_bytes_per_token'] / (p + 3) for p in d}
if abs(per_row[40] - per_row[600]) > 0.01 or per_row[40] % 4 > 0.01 or per_row[40] <= 0:
    bad.append('cache bytes per row %s: not the same multiple of 4 at both lengths' % per_row)
if d[40]['weight_bytes_per_token'] != d[600]['weight_bytes_per_token']:
    bad.append('the weights read depend on the prompt length')
print('; '.join(bad) if bad else 'ok %.0f bytes of latent cache per row and token' % per_row[40])
EOF
)
case "$out" in
ok*) ok "--bench --prompt-tokens 40 and 600: ${out#ok }" ;;
*) bad "--bench --prompt-tokens: $out" ;;
esac

# --cache-type bf16: the same rows at 2 bytes a value, so the cache read per token is half the F32 one
# above, and the report says which
if "$engine" --model "$quant/model-q8_0.gguf" --bench --json --prompt-tokens 40 --threads 2 --max-tokens 5 \
	--cache-type bf16 > "$tmp/b16.json" 2> "$tmp/err"; then
	out=$(python3 -c 'import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
ok = b.get("cache_type") == "bf16" and a.get("cache_type") == "f32" and \
     abs(2 * b["cache_bytes_per_token"] - a["cache_bytes_per_token"]) <= 2 and \
     b["weight_bytes_per_token"] == a["weight_bytes_per_token"]
print(("ok " if ok else "") + "cache bytes per token %s (bf16) against %s (f32)" % (b["cache_bytes_per_token"], a["cache_bytes_per_token"]))' \
		"$tmp/p40.json" "$tmp/b16.json")
	case "$out" in
	ok*) ok "--bench --cache-type bf16: ${out#ok }" ;;
	*) bad "--bench --cache-type bf16: $out" ;;
	esac
else
	bad "--bench --cache-type bf16 failed: $(cat "$tmp/err")"
fi
"$engine" --model "$quant/model-q8_0.gguf" --bench --cache-type fp8 > "$tmp/out" 2> "$tmp/err"
[ $? -eq 1 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q "fp8" "$tmp/err" &&
	ok "an unknown cache type is refused: $(cat "$tmp/err")" || bad "--cache-type fp8: $(cat "$tmp/err")"

# rounds of prefill and decode, the model loaded once: the figures are one round's (the median by
# bandwidth fraction), so they agree with each other as above, and sit inside the spread reported
"$engine" --model "$quant/model-q4_k_m.gguf" --bench --rounds 3 --json --threads 2 --max-tokens 3 \
	> "$tmp/rounds.json" 2> "$tmp/err" || bad "--bench --rounds 3 failed: $(cat "$tmp/err")"
out=$(python3 - "$tmp/rounds.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
bad = []
if j.get('rounds') != 3 or j.get('decode_tokens') != 3:
    bad.append('3 rounds of 3 tokens expected: %s' % {k: j.get(k) for k in ('rounds', 'decode_tokens')})
for k in ('prefill_tps', 'decode_tps', 'bw_fraction'):
    lo, hi = j.get(k + '_range', [1, 0])
    if not lo <= j.get(k, -1) <= hi or not lo > 0:
        bad.append('%s %s outside its range [%s, %s]' % (k, j.get(k), lo, hi))
if abs(j['machine_bw_gbs'] - max(j['machine_bw_before_gbs'], j['machine_bw_after_gbs'])) > 0.006:
    bad.append('machine_bw_gbs is not the larger probe of its round')
# the round reported is the median one by bandwidth fraction, and its own decode speed comes with it
rf, rt = j.get('round_bw_fraction', []), j.get('round_decode_tps', [])
if len(rf) != 3 or len(rt) != 3:
    bad.append('3 rounds listed expected: %s %s' % (rf, rt))
else:
    # the listed fractions have 3 decimals, so two rounds can tie with the median there: either may be it
    med = sorted(rf)[1]
    if abs(j['bw_fraction'] - med) > 0.0015 or not any(
            abs(rf[i] - med) <= 0.0015 and abs(j['decode_tps'] - rt[i]) <= 0.006 for i in range(3)):
        bad.append('reported fraction %s / %s tokens/s are not the median round (%s, %s)' %
                   (j['bw_fraction'], j['decode_tps'], rf, rt))
bw = j['bytes_per_token'] * j['decode_tps'] / 1e9
if abs(j['decode_bw_gbs'] - bw) > 0.006 + 0.01 * bw:
    bad.append('decode_bw_gbs %s is not bytes/token x tokens/s = %.3f' % (j['decode_bw_gbs'], bw))
if abs(j['bw_fraction'] - j['decode_bw_gbs'] / j['machine_bw_gbs']) > 0.002 + 0.01 * j['bw_fraction']:
    bad.append('bw_fraction %s is not decode / machine bandwidth' % j['bw_fraction'])
print('; '.join(bad) if bad else 'ok decode %.1f tokens/s in [%.1f, %.1f]' % (j['decode_tps'], *j['decode_tps_range']))
EOF
)
case "$out" in
ok*) ok "--bench --rounds 3: ${out#ok }" ;;
*) bad "--bench --rounds 3: $out" ;;
esac
"$engine" --model "$quant/model-q8_0.gguf" --bench --rounds 2 --threads 1 --max-tokens 2 > "$tmp/text" 2> "$tmp/err" &&
	grep -Eq "^bandwidth .*: [0-9]+% \([0-9]+-[0-9]+%\)$" "$tmp/text" && grep -Eq "^rounds +2;" "$tmp/text" &&
	ok "--bench --rounds 2 text: $(grep '^bandwidth' "$tmp/text")" || bad "--bench --rounds 2 text: $(cat "$tmp/text" "$tmp/err")"

# the batch curve: every size in the JSON, in the order given, its gain over batch 1 taken within
# each round (batch 1's own gain exactly 1), medians within their spread
"$engine" --model "$quant/model-q8_0.gguf" --bench --batch 4,1,2 --rounds 2 --json --threads 2 --max-tokens 3 \
	> "$tmp/curve.json" 2> "$tmp/err" || bad "--bench --batch 4,1,2 failed: $(cat "$tmp/err")"
out=$(python3 - "$tmp/curve.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
bad = []
if j.get('rounds') != 2 or j.get('decode_steps') != 3 or j.get('base_batch') != 1:
    bad.append('rounds 2, 3 steps, base 1 expected: %s' % {k: j.get(k) for k in ('rounds', 'decode_steps', 'base_batch')})
c = j.get('curve', [])
if [e.get('batch') for e in c] != [4, 1, 2]:
    bad.append('sizes %s, not [4, 1, 2]' % [e.get('batch') for e in c])
for e in c:
    for k in ('decode_tps', 'gain', 'decode_tokens_per_cpu_s'):
        if not e.get(k, 0) > 0:
            bad.append('batch %s: %s not positive' % (e.get('batch'), k))
    if not e['decode_tps_min'] <= e['decode_tps'] <= e['decode_tps_max']:
        bad.append('batch %s: median outside its spread' % e['batch'])
    if not e['gain_min'] <= e['gain'] <= e['gain_max']:
        bad.append('batch %s: gain outside its spread' % e['batch'])
    if e['batch'] == 1 and not (e['gain'] == e['gain_min'] == e['gain_max'] == 1):
        bad.append('batch 1 gains %s over itself' % e['gain'])
print('; '.join(bad) if bad else 'ok ' + ', '.join('%d: %.2fx' % (e['batch'], e['gain']) for e in c))
EOF
)
case "$out" in
ok*) ok "--bench --batch 4,1,2: a whole curve: ${out#ok }" ;;
*) bad "--bench --batch 4,1,2: $out" ;;
esac
"$engine" --model "$quant/model-q8_0.gguf" --bench --batch 1,2 --rounds 1 --threads 1 --max-tokens 2 > "$tmp/text" \
	2> "$tmp/err" && grep -Eq "^batch +2 +[0-9.]+ tokens/s aggregate .* gain [0-9.]+x" "$tmp/text" &&
	ok "--bench --batch 1,2 text: $(grep '^batch   2' "$tmp/text")" || bad "--bench --batch 1,2 text: $(cat "$tmp/text" "$tmp/err")"
# sizes and rounds out of range, and options that need a curve or one size: one sentence, exit 1
for args in "--batch 1,,2" "--batch 1,x" "--batch 0,2" "--batch 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17" \
	    "--batch 2 --rounds 3" "--batch 1,2 --rounds 0" "--batch 1,2 --profile" "--batch 2 --synthetic lite" \
	    "--rounds 101" "--rounds 2 --synthetic lite" "--prompt-tokens 0" "--prompt-tokens 64 --batch 2" \
	    "--prompt-tokens 170000"; do
	# shellcheck disable=SC2086
	"$engine" --model "$quant/model-q8_0.gguf" --bench $args > "$tmp/out" 2> "$tmp/err"
	[ $? -eq 1 ] && [ ! -s "$tmp/out" ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] &&
		ok "--bench $args refused: $(cat "$tmp/err")" || bad "--bench $args: $(cat "$tmp/out" "$tmp/err")"
done

# the report names the kernel set that ran: the portable one when asked for, in the JSON and the text
"$engine" --model "$quant/model-q8_0.gguf" --bench --json --rounds 1 --threads 1 --max-tokens 2 --kernels ref \
	> "$tmp/ref.json" 2> "$tmp/err" &&
	python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1])).get("kernels") != "portable C")' "$tmp/ref.json" &&
	ok "--bench --json --kernels ref: \"kernels\": \"portable C\"" || bad "--bench --kernels ref: $(cat "$tmp/ref.json" "$tmp/err")"
"$engine" --model "$quant/model-q8_0.gguf" --bench --rounds 1 --threads 1 --max-tokens 2 --kernels ref > "$tmp/text" \
	2> "$tmp/err" && grep -q "^backend  *cpu, 1 threads, kernels portable C$" "$tmp/text" &&
	ok "--bench text: $(grep '^backend' "$tmp/text")" || bad "--bench text backend line: $(cat "$tmp/text" "$tmp/err")"
# exact kernels on quantized weights: a hint names the opt-in int8 set where this CPU runs one; not
# under that set, nor on BF16 weights
cp "$tmp/text" "$tmp/exact.txt"
if "$engine" --model "$quant/model-q8_0.gguf" --bench --rounds 1 --threads 1 --max-tokens 2 --kernels avx2-int8 \
	> "$tmp/int8.txt" 2> "$tmp/err"; then
	grep -q "^hint  *--kernels avx[0-9]*-int8 rounds activations" "$tmp/exact.txt" && ! grep -q "^hint" "$tmp/int8.txt" &&
		ok "--bench hint: $(grep '^hint' "$tmp/exact.txt")" || bad "--bench hint: $(cat "$tmp/exact.txt" "$tmp/int8.txt")"
else
	! grep -q "^hint" "$tmp/exact.txt" && ok "--bench: no int8 hint on a CPU without AVX2" ||
		bad "--bench hint without an int8 set: $(cat "$tmp/exact.txt")"
fi
"$engine" --model "$quant/model-bf16.gguf" --bench --rounds 1 --threads 1 --max-tokens 2 > "$tmp/text" 2> "$tmp/err" &&
	! grep -q "^hint" "$tmp/text" && ok "--bench on BF16 weights: no int8 hint" || bad "--bench hint on BF16: $(cat "$tmp/text" "$tmp/err")"

# a context that cannot hold the benchmark's prompt: one sentence, exit 1, nothing on stdout
"$engine" --model "$quant/model-q8_0.gguf" --bench --ctx 100 > "$tmp/out" 2> "$tmp/err"
[ $? -eq 1 ] && [ ! -s "$tmp/out" ] && grep -q "too small" "$tmp/err" && [ "$(wc -l < "$tmp/err")" -eq 1 ] &&
	ok "--bench --ctx 100 refused: $(cat "$tmp/err")" || bad "--bench --ctx 100: $(cat "$tmp/out" "$tmp/err")"
exit $fail
