#!/bin/bash
# tests/serve-http.sh: dscoder-engine --serve through curl on the demo model: /health, /v1/models, chat
# and completions whole and streamed (OpenAI's shapes, [DONE]), fill-in-the-middle through suffix, every
# error status with OpenAI's error object (400, 401, 404, 405, 413, 429), malformed HTTP, the refusal to
# listen beyond loopback without a key, and SIGTERM during a stream (the stream ends, exit 0).
. "$top_srcdir/tests/cli-lib.sh"
. "$top_srcdir/tests/http-lib.sh"
command -v curl >/dev/null 2>&1 || { echo "curl not found (tools/install-deps installs it)"; exit 1; }
watchdog 120

start_server --max-body 4096 --timeout 1 || exit 1
ok "listening on port $port"

# status_of METHOD PATH [curl args...]: prints the status and leaves the body in $tmp/body
status_of() {
	local m=$1 p=$2
	shift 2
	curl -s -o "$tmp/body" -w '%{http_code}' -X "$m" "$@" "$base$p"
}
# expect STATUS WHAT METHOD PATH [curl args]: the status, and for errors OpenAI's error object
expect() {
	local want=$1 what=$2 got
	shift 2
	got=$(status_of "$@")
	if [ "$got" != "$want" ]; then
		bad "$what: status $got, want $want: $(head -c 300 "$tmp/body")"
	elif [ "$want" -ge 400 ] && ! python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert isinstance(e["message"], str) and e["message"] and "type" in e and "param" in e and "code" in e' "$tmp/body" 2>/dev/null; then
		bad "$what: not OpenAI's error object: $(head -c 300 "$tmp/body")"
	else
		ok "$what: $want"
	fi
}
json() { python3 -c "import json,sys; d=json.load(open('$tmp/body')); print($1)"; }

expect 200 "GET /health" GET /health
[ "$(json 'd["status"]')" = ok ] && ok "health says ok" || bad "health: $(cat "$tmp/body")"
expect 200 "GET /v1/models" GET /v1/models
[ "$(json 'd["data"][0]["id"]')" = dscoder-demo ] && [ "$(json 'd["data"][0]["max_model_len"] >= 256')" = True ] &&
	ok "the model is dscoder-demo, $(json 'd["data"][0]["max_model_len"]') tokens per request" || bad "models: $(cat "$tmp/body")"

chat='{"model":"dscoder-demo","messages":[{"role":"user","content":"Who are you?"}],"max_tokens":40}'
expect 200 "a chat" POST /v1/chat/completions -H 'Content-Type: application/json' -d "$chat"
[ "$(json 'd["object"]')" = chat.completion ] && [ -n "$(json 'd["choices"][0]["message"]["content"]')" ] &&
	[ "$(json 'd["usage"]["completion_tokens"] > 0 and d["usage"]["prompt_tokens"] > 0')" = True ] &&
	ok "chat.completion with text and usage" || bad "chat answer: $(cat "$tmp/body")"
whole=$(json 'd["choices"][0]["message"]["content"]')

# the same request streamed: the chunks' deltas join to the same text (greedy), then [DONE]
curl -sN "$base/v1/chat/completions" -d "${chat%\}},\"stream\":true,\"stream_options\":{\"include_usage\":true}}" >"$tmp/sse"
streamed=$(python3 - "$tmp/sse" <<'PY'
import json, sys
events = [l[6:] for l in open(sys.argv[1]).read().split("\n") if l.startswith("data: ")]
assert events[-1] == "[DONE]", events[-1]
chunks = [json.loads(e) for e in events[:-1]]
assert all(c["object"] == "chat.completion.chunk" for c in chunks)
assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
assert chunks[-2]["choices"][0]["finish_reason"] in ("stop", "length")
sys.stdout.write("".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1]))
PY
) && [ "$streamed" = "$whole" ] && ok "the stream joins to the whole answer and ends with [DONE]" ||
	bad "stream: '$streamed' vs '$whole': $(head -c 600 "$tmp/sse")"

expect 200 "a completion" POST /v1/completions -d '{"prompt":"def quick_sort(arr):","max_tokens":8}'
[ "$(json 'd["object"]')" = text_completion ] && [ "$(json 'd["usage"]["completion_tokens"]')" = 8 ] &&
	[ "$(json 'd["choices"][0]["finish_reason"]')" = length ] && ok "text_completion, 8 tokens, length" ||
	bad "completion: $(cat "$tmp/body")"
expect 200 "fill in the middle" POST /v1/completions -d '{"prompt":"def add(a, b):\n    ","suffix":"\n\nprint(add(1, 2))\n","max_tokens":12}'
# the prompt of FIM holds the three FIM tokens around prefix and suffix: more than the prefix alone
fim_prompt=$(json 'd["usage"]["prompt_tokens"]')
status_of POST /v1/completions -d '{"prompt":"def add(a, b):\n    ","max_tokens":1}' >/dev/null
plain_prompt=$(json 'd["usage"]["prompt_tokens"]')
[ "$fim_prompt" -gt "$((plain_prompt + 3))" ] && ok "suffix makes a FIM prompt ($fim_prompt tokens vs $plain_prompt)" ||
	bad "FIM prompt $fim_prompt tokens, plain $plain_prompt"

expect 400 "bad JSON" POST /v1/chat/completions -d '{"messages":'
expect 400 "a field out of range" POST /v1/chat/completions -d '{"messages":[{"role":"user","content":"x"}],"top_p":2}'
[ "$(json 'd["error"]["param"]')" = top_p ] && ok "the field is named" || bad "param: $(cat "$tmp/body")"
expect 400 "no messages" POST /v1/chat/completions -d '{"prompt":"x"}'
expect 404 "an unknown path" GET /v1/engines
expect 404 "an unknown model" POST /v1/chat/completions -d '{"model":"gpt-4","messages":[{"role":"user","content":"x"}]}'
[ "$(json 'd["error"]["code"]')" = model_not_found ] && ok "code model_not_found" || bad "code: $(cat "$tmp/body")"
expect 405 "GET on a POST endpoint" GET /v1/chat/completions
curl -s -D - -o /dev/null "$base/v1/chat/completions" | grep -qi "^Allow: POST" && ok "405 says Allow: POST" || bad "no Allow header"
expect 413 "a body over --max-body" POST /v1/completions -d "{\"prompt\":\"$(head -c 20000 /dev/zero | tr '\0' a)\"}"

# malformed HTTP: a request line that is not HTTP gets a 4xx from libmicrohttpd, and the server lives on
python3 - "$port" <<'PY' && ok "malformed HTTP gets 400" || bad "malformed HTTP"
import socket, sys
for raw in (b"NOT HTTP AT ALL\r\n\r\n", b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: zzz\r\n\r\n",
            b"GET /health HTTP/1.1\r\n" + b"X: " + b"a" * 100000 + b"\r\n\r\n"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    s.sendall(raw)
    got = s.recv(100)
    s.close()
    assert got.startswith(b"HTTP/1.1 4") or got == b"", got
PY
expect 200 "alive after malformed requests" GET /health

# --timeout: a client that stops in the middle of its body is cut off (well before the socket's own 20 s)
python3 - "$port" <<'PY' && ok "a stalled request is closed by --timeout" || bad "a stalled request stayed open"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\":")
assert s.recv(100) == b""
PY

stop_server
[ "$server_status" = 0 ] && ok "SIGTERM when idle: exit 0" || bad "SIGTERM when idle: exit $server_status"

# a key: 401 without it or with another, 200 with it; /health needs none
echo "sk-test-123" >"$tmp/key"
start_server --api-key-file "$tmp/key" --slots 1 --queue 0 --max-tokens 0 || exit 1
expect 401 "no key" GET /v1/models
[ "$(json 'd["error"]["code"]')" = invalid_api_key ] && ok "code invalid_api_key" || bad "code: $(cat "$tmp/body")"
expect 401 "a wrong key" GET /v1/models -H "Authorization: Bearer sk-test-124"
expect 200 "the key" GET /v1/models -H "Authorization: Bearer sk-test-123"
expect 200 "health without a key" GET /health

# one slot, no queue: a second request while the first runs gets 429 with Retry-After; SIGTERM then ends
# the running stream with an error event and [DONE], and the server exits 0
# (temperature 5 samples almost uniformly: the end-of-sequence token is unlikely for a long time)
long='{"prompt":"def","max_tokens":0,"temperature":5.0,"seed":1,"stream":true}'
curl -sN -H "Authorization: Bearer sk-test-123" "$base/v1/completions" -d "$long" >"$tmp/long" &
curl_pid=$!
for _ in $(seq 1 100); do [ -s "$tmp/long" ] && break; sleep 0.05; done
curl -s -D "$tmp/headers" -o "$tmp/body" -H "Authorization: Bearer sk-test-123" "$base/v1/completions" -d '{"prompt":"x"}'
grep -q "^HTTP/1.1 429" "$tmp/headers" && grep -qi "^Retry-After: 1" "$tmp/headers" && ok "429 with Retry-After" ||
	bad "busy: $(cat "$tmp/headers" "$tmp/body")"
stop_server
wait $curl_pid
[ "$server_status" = 0 ] && ok "SIGTERM during a stream: exit 0" || bad "SIGTERM during a stream: exit $server_status"
python3 - "$tmp/long" <<'PY' && ok "the cut stream ends with an error event and [DONE]" || bad "cut stream: $(tail -c 400 "$tmp/long")"
import json, sys
text = open(sys.argv[1]).read()
assert text.endswith("data: [DONE]\n\n")
events = [l[6:] for l in text.split("\n") if l.startswith("data: ")]
assert "shutting down" in json.loads(events[-2])["error"]["message"]
PY

# a prompt longer than the context: 400 context_length_exceeded, whole or streamed
start_server --ctx 64 || exit 1
long_prompt=$(python3 -c 'import json; print(json.dumps({"prompt": "def f(): return 1\n" * 40, "max_tokens": 4}))')
expect 400 "a prompt over --ctx" POST /v1/completions -d "$long_prompt"
[ "$(json 'd["error"]["code"]')" = context_length_exceeded ] && ok "code context_length_exceeded: $(json 'd["error"]["message"]')" ||
	bad "context: $(cat "$tmp/body")"
expect 400 "a streamed prompt over --ctx" POST /v1/completions -d "${long_prompt%\}}, \"stream\": true}"
stop_server

# beyond loopback only with a key
"$engine" --model "$model" --serve 0.0.0.0:0 2>"$tmp/err" && bad "0.0.0.0 without a key started" ||
	{ grep -q "api-key-file" "$tmp/err" && ok "0.0.0.0 without --api-key-file refused: $(cat "$tmp/err")" || bad "refusal: $(cat "$tmp/err")"; }
"$engine" --model "$model" --serve nonsense 2>"$tmp/err" && bad "--serve nonsense started" || ok "--serve nonsense: $(cat "$tmp/err")"
"$engine" --model "$model" --slots 2 --generate hi 2>"$tmp/err" && bad "--slots with --generate" || ok "$(cat "$tmp/err")"
exit $fail
