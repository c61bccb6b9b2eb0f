#!/bin/sh
# tui-remote-serve.sh: the TUI through the real dscoder-engine --remote to dscoder-engine --serve on the
# fixture model, with a key: the same greedy question gives the same answer (text, token counts,
# finish) as the local engine; the status bar shows "remote" and the server's host; a wrong key stops
# the engine with one sentence naming the variable, never the key; Esc cancels a long answer; the
# server killed mid-answer leaves the partial answer on screen and on disk, marked "error". The server's
# answers reach the TUI through tests/slow_proxy.py, so a fast server's answer is still streaming when
# the test acts on it (no race with the generation's speed).
. "$top_srcdir/tests/tui-lib.sh"

KEY=tui-serve-key-5f0c93
printf '%s\n' "$KEY" > "$T/server.key"
SERVE_PID=
PROXY_PID=
trap 'for p in $SERVE_PID $PROXY_PID; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; tui_cleanup' EXIT

# start_server: dscoder-engine --serve on a free port of 127.0.0.1, with the key; sets URL.
start_server() {
	"$ENGINE" --serve 127.0.0.1:0 --model "$MODEL" --threads 1 --api-key-file "$T/server.key" \
		</dev/null >/dev/null 2>"$T/serve.err" &
	SERVE_PID=$!
	n=600
	until grep -q 'ready:' "$T/serve.err"; do
		kill -0 "$SERVE_PID" 2>/dev/null || fail "the server did not start: $(cat "$T/serve.err")"
		[ $n -gt 0 ] || fail "the server was not ready in time: $(cat "$T/serve.err")"
		sleep 0.1
		n=$((n - 1))
	done
	port=$(sed -n 's|.*listening on http://[^:]*:\([0-9]*\).*|\1|p' "$T/serve.err" | head -n 1)
	[ -n "$port" ] || fail "no port in: $(cat "$T/serve.err")"
	URL=http://127.0.0.1:$port
}

# start_proxy: tests/slow_proxy.py in front of the server; sets URL and port to the proxy's.
start_proxy() {
	python3 "$top_srcdir/tests/slow_proxy.py" "$port" </dev/null >/dev/null 2>"$T/proxy.err" &
	PROXY_PID=$!
	n=300
	until grep -q 'listening' "$T/proxy.err"; do
		kill -0 "$PROXY_PID" 2>/dev/null || fail "the proxy did not start: $(cat "$T/proxy.err")"
		[ $n -gt 0 ] || fail "the proxy did not start in time"
		sleep 0.1
		n=$((n - 1))
	done
	port=$(sed -n 's|.*listening on http://[^:]*:\([0-9]*\).*|\1|p' "$T/proxy.err" | head -n 1)
	URL=http://127.0.0.1:$port
}

# answer_of FILE: the assistant messages of a conversation file without what differs from run to run
# (times, measured speeds, the model line).
answer_of() {
	awk '/role: assistant/ { on = 1 } /role: user/ { on = 0 } on && !/time:|ttft_ms:|decode_tps:/' "$1"
}

mkdir -p "$XDG_CONFIG_HOME/dscoder-tui/profiles"
cat > "$XDG_CONFIG_HOME/dscoder-tui/profiles/greedy.yaml" <<'YAML'
description: reproducible answers
system_prompt: You are terse.
sampling:
  temperature: 0
  max_tokens: 24
YAML

# The reference: the engine here.
tui_start 120 40 --profile greedy
wait_for ' ready ' 60
keys 'Write a C function that adds two ints.' Enter
wait_for 'tokens · first token [0-9]+ ms' 60
f=$(conv_file)
wait_cmd 20 "the local answer is saved" grep -q 'finish:' "$f"
keys C-q
wait_for 'TUI-EXIT=0' 20
answer_of "$f" > "$T/local.txt"
[ -s "$T/local.txt" ] || fail "no local answer in $f"
mv "$f" "$T/local.yaml"

# The same through the server.
start_server
start_proxy
TUI_ENV="SERVE_KEY=$KEY"
tui_start 120 40 --profile greedy --remote "$URL" --api-key-env SERVE_KEY
wait_for ' ready ' 60
wait_for "│ remote 127\\.0\\.0\\.1:$port " 10
keys 'Write a C function that adds two ints.' Enter
wait_for 'tokens · first token [0-9]+ ms' 60
f=$(conv_file)
wait_cmd 20 "the remote answer is saved" grep -q 'finish:' "$f"
answer_of "$f" > "$T/remote.txt"
diff "$T/local.txt" "$T/remote.txt" >/dev/null ||
	fail "the answer through the server differs from the local one: $(diff "$T/local.txt" "$T/remote.txt")"
grep -q "^model: $URL" "$f" || fail "the conversation does not name the server: $(grep '^model' "$f")"

# Esc cancels a long answer through the server.
keys M-n
wait_for 'new conversation' 10
keys F7
wait_for 'Profile \(system prompt, mode, sampling\)' 10
# sorted: chinese coder completion explain fim greedy long reviewer tests; "greedy" is selected
keys Down Enter
wait_for 'profile long' 10
keys 'Tell me a long story.' Enter
wait_for ' generating [0-9]+ ' 60
keys Escape
f2=$(ls -t "$CONVDIR"/*.yaml | head -n 1)
wait_cmd 30 "the cancelled answer is saved" grep -q 'finish: cancel' "$f2"
wait_for ' ready ' 30

# The server killed mid-answer: what arrived stays, marked; the engine says so in one sentence. A new
# conversation (the profile stays "long"), so the prompt is fixed: after the cancelled answer, whose
# length depends on when Esc landed, the random fixture model may end its next answer within a few
# dozen tokens, before a poll of the screen sees it running.
keys M-n
wait_for 'new conversation' 10
keys 'Another long one.' Enter
wait_for ' generating [0-9]+ ' 60
f3=$(ls -t "$CONVDIR"/*.yaml | head -n 1)
kill -KILL "$SERVE_PID" "$PROXY_PID"
wait "$SERVE_PID" "$PROXY_PID" 2>/dev/null
SERVE_PID=
PROXY_PID=
wait_for 'engine: the connection to .* broke after [0-9]+ tokens' 30
wait_cmd 20 "the cut answer is saved, marked" sh -c "grep -A12 'Another long one' '$f3' | grep -q 'finish: error'"
grep -qF -- "$KEY" "$f" "$f2" "$f3" "$T/tui.err" && fail "the key is written somewhere"
keys C-q
wait_for 'TUI-EXIT=0' 20

# A wrong key: the engine cannot start, and says which variable held the key.
start_server
TUI_ENV="SERVE_KEY=not-the-key"
tui_start 120 40 --remote "$URL" --api-key-env SERVE_KEY
wait_for 'engine could not start' 60
wait_for 'SERVE_KEY' 10
screen | grep -q 'not-the-key' && fail "the wrong key is on the screen"
keys C-q
wait_for 'TUI-EXIT=0' 20
exit 0
