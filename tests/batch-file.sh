#!/bin/bash
# tests/batch-file.sh: dscoder-engine --batch-file on the demo model: chat, completion and FIM lines
# answered in the input's order with ids and usage, greedy texts equal to --generate, --complete and
# --fim-prefix/--fim-suffix and the same with 1 slot or 4, the progress line, a prompt over the context
# as an error line (exit 1), a bad line named by file and line before the model loads.
. "$top_srcdir/tests/cli-lib.sh"
. "$top_srcdir/tests/http-lib.sh"
watchdog 120
run() { "$engine" --model "$model" --threads 1 "$@"; }

cat >"$tmp/in.jsonl" <<'JSONL'
{"id":"q1","messages":[{"role":"user","content":"write a quick sort algorithm in python."}],"max_tokens":20,"temperature":0}

{"prompt":"def quick_sort(arr):","max_tokens":10,"temperature":0}
{"id":"fim","prompt":"def add(a, b):\n    ","suffix":"\n\nprint(add(1, 2))\n","max_tokens":12,"temperature":0}
{"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Who are you?"}],"max_tokens":16,"temperature":0,"stop":["DeepSeek"]}
JSONL
run --batch-file "$tmp/in.jsonl" --slots 4 >"$tmp/out4" 2>"$tmp/err4" && ok "4 requests, 4 slots" || bad "exit $?: $(cat "$tmp/err4")"
run --batch-file - --slots 1 <"$tmp/in.jsonl" >"$tmp/out1" 2>/dev/null && ok "the same from stdin, 1 slot" || bad "stdin, 1 slot"
cmp -s "$tmp/out1" "$tmp/out4" && ok "1 slot and 4 slots answer the same (greedy)" || bad "slots change answers: $(diff "$tmp/out1" "$tmp/out4")"
grep -q "batch: 4/4 answered" "$tmp/err4" && ok "progress: $(tail -n 1 "$tmp/err4")" || bad "no progress line: $(cat "$tmp/err4")"

run --temperature 0 --max-tokens 20 --generate "write a quick sort algorithm in python." >"$tmp/e0"
run --temperature 0 --max-tokens 10 --complete "def quick_sort(arr):" >"$tmp/e1"
run --temperature 0 --max-tokens 12 --fim-prefix "def add(a, b):
    " --fim-suffix "

print(add(1, 2))
" >"$tmp/e2"
run --temperature 0 --max-tokens 16 --system "You are terse." --stop DeepSeek --generate "Who are you?" >"$tmp/e3"
python3 - "$tmp/out4" "$tmp" <<'PY' && ok "in order, ids echoed, texts equal to the single-request verbs" || bad "answers: $(cat "$tmp/out4")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["index"] for l in lines] == [0, 1, 2, 3], lines
assert lines[0]["id"] == "q1" and lines[2]["id"] == "fim" and "id" not in lines[1], lines
for i, l in enumerate(lines):
    want = open("%s/e%d" % (sys.argv[2], i)).read()[:-1]    # the verbs end the answer with a newline
    assert l["text"] == want, (i, l["text"], want)
    assert l["usage"]["completion_tokens"] > 0 and l["usage"]["prompt_tokens"] > 0, l
assert lines[1]["usage"]["completion_tokens"] == 10 and lines[1]["finish_reason"] == "length", lines[1]
assert lines[3]["finish_reason"] == "stop" and "DeepSeek" not in lines[3]["text"], lines[3]
PY

# a prompt longer than the context: its line holds the error, the others their answers, exit 1
long=$(python3 -c 'print("def f(): return 1\n" * 40)')
python3 -c 'import json,sys; print(json.dumps({"prompt": sys.argv[1], "max_tokens": 4})); print(json.dumps({"prompt": "def", "max_tokens": 4}))' "$long" >"$tmp/ctx.jsonl"
run --ctx 64 --batch-file "$tmp/ctx.jsonl" >"$tmp/ctx.out" 2>"$tmp/ctx.err"
status=$?
python3 - "$tmp/ctx.out" <<'PY' && [ $status = 1 ] && ok "a prompt over --ctx: an error line, the next answered, exit 1" || bad "context: exit $status: $(cat "$tmp/ctx.out" "$tmp/ctx.err")"
import json, sys
a, b = [json.loads(l) for l in open(sys.argv[1])]
assert a["error"]["code"] == "context_length_exceeded" and "text" not in a, a
assert b["index"] == 1 and b["usage"]["completion_tokens"] == 4, b
PY
grep -q "1 of 2 requests failed" "$tmp/ctx.err" && ok "$(tail -n 1 "$tmp/ctx.err")" || bad "summary: $(cat "$tmp/ctx.err")"

# a bad line is named before the model loads; nothing is answered
printf '{"prompt":"a"}\n{"prompt":"b","temperature":-1}\n' >"$tmp/bad.jsonl"
run --batch-file "$tmp/bad.jsonl" >"$tmp/bad.out" 2>"$tmp/bad.err" && bad "a bad line was taken" ||
	{ grep -q "bad.jsonl:2: \"temperature\" is -1" "$tmp/bad.err" && [ ! -s "$tmp/bad.out" ] && ok "$(cat "$tmp/bad.err")" ||
	  bad "bad line: $(cat "$tmp/bad.err" "$tmp/bad.out")"; }
run --batch-file "$tmp/missing.jsonl" 2>"$tmp/err" && bad "a missing file" || ok "$(cat "$tmp/err")"
: >"$tmp/empty.jsonl"
run --batch-file "$tmp/empty.jsonl" 2>"$tmp/err" && bad "an empty file" || ok "$(cat "$tmp/err")"
exit $fail
