#!/bin/sh
# tui-remote.sh: remote: in config.yaml and profiles and --remote on the command line start the engine
# as dscoder-engine --remote URL [--remote-model M] [--api-key-env VAR | --api-key-file F] [--model DIR],
# with the key in none of argv, the conversation file or the TUI's output; the status bar shows the
# backend the ready event names ("remote" and the server's host) and an estimated count as "~N"; a
# profile with another server starts a new engine; bad settings are one sentence naming the file and
# key. The engine here is a stand-in script that records how it was started and answers as a remote
# engine would (tui-remote-serve.sh runs the real one against dscoder-engine --serve).
. "$top_srcdir/tests/tui-lib.sh"

KEY=sk-tui-remote-test-7d1e
FAKE=$T/fake-engine
cat > "$FAKE" <<EOF
#!/bin/sh
{ echo "start"; printf '%s\n' "\$@"; } >> '$T/argv'
[ "\$TEAM_KEY" = '$KEY' ] && echo "key in env" >> '$T/argv'
echo '{"event":"ready","protocol":1,"model":{"name":"deepseek-coder-v2","path":"https://gpu.example.org:8443/v1","n_ctx":4096,"vocab_size":102400,"parameters":0,"backend":"remote","threads":0}}'
while IFS= read -r line; do
	id=\$(printf '%s\n' "\$line" | sed -n 's/^{"op":"[a-z]*","id":\([0-9]*\).*/\1/p')
	case \$line in
	*'"op":"count"'*) echo "{\"event\":\"count\",\"id\":\$id,\"tokens\":12,\"n_ctx\":4096,\"estimate\":true}" ;;
	*'"op":"generate"'*)
		echo "{\"event\":\"token\",\"id\":\$id,\"text\":\"Hello from the server.\"}"
		echo "{\"event\":\"done\",\"id\":\$id,\"finish\":\"stop\",\"prompt_tokens\":12,\"completion_tokens\":5,\"cached_tokens\":0,\"ttft_ms\":30,\"prefill_tps\":0,\"decode_tps\":50}" ;;
	*'"op":"shutdown"'*) exit 0 ;;
	esac
done
EOF
chmod +x "$FAKE"
CFG=$XDG_CONFIG_HOME/dscoder-tui/config.yaml
PROFILES=$XDG_CONFIG_HOME/dscoder-tui/profiles
# argv_of N: the N-th start's arguments on one line.
argv_of() { awk -v n="$1" '/^start$/ { k++; next } k == n && !/^key in env$/ { printf "%s%s", sep, $0; sep = " " }' "$T/argv"; }
no_key_anywhere() {
	if grep -rqF -- "$KEY" "$T/argv" "$T/tui.err" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" 2>/dev/null; then
		fail "the key is written somewhere: $(grep -rlF -- "$KEY" "$T/argv" "$T/tui.err" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME")"
	fi
}

# config.yaml's server, its key in a variable: the variable's name travels, the key stays in the
# environment; the status bar names the server.
printf 'remote:\n  url: https://gpu.example.org:8443/v1\n  model: deepseek-coder-v2\n  api_key_env: TEAM_KEY\n' > "$CFG"
TUI_ENV="TEAM_KEY=$KEY"
tui_start 120 30 --engine "$FAKE"
wait_for ' ready ' 30
wait_for '│ remote gpu\.example\.org:8443 ' 10
wait_for ' deepseek-coder-v2 ' 10
# The server's count without a tokenizer here is an estimate, marked so on the meter.
wait_for 'ctx [^ ]+ ~12/4\.1k' 10
got=$(argv_of 1)
[ "$got" = "--remote https://gpu.example.org:8443/v1 --remote-model deepseek-coder-v2 --api-key-env TEAM_KEY --model $MODEL" ] ||
	fail "engine arguments: $got"
grep -q '^key in env$' "$T/argv" || fail "the engine did not get TEAM_KEY in its environment"
keys 'Say hello.' Enter
wait_for 'Hello from the server\.' 20
f=$(conv_file)
wait_cmd 20 "the answer is saved" grep -q 'Hello from the server' "$f"
grep -q '^model: https://gpu.example.org:8443/v1' "$f" || fail "the conversation does not name the server: $(grep '^model' "$f")"
keys C-q
wait_for 'TUI-EXIT=0' 20
no_key_anywhere

# The command line's server is whole by itself: config.yaml's key is not sent to it.
: > "$T/argv"
tui_start 120 30 --engine "$FAKE" --remote http://localhost:9/v1 --api-key-file "$T/key"
wait_for ' ready ' 30
got=$(argv_of 1)
[ "$got" = "--remote http://localhost:9/v1 --api-key-file $T/key --model $MODEL" ] || fail "--remote arguments: $got"
keys C-q
wait_for 'TUI-EXIT=0' 20

# With no model of its own (the demo model would be the one here) none goes along: the demo model's
# tokenizer is not the server's.
: > "$T/argv"
model_arg=$MODEL
MODEL=
tui_start 120 30 --engine "$FAKE" --remote https://api.example.com
MODEL=$model_arg
wait_for ' ready ' 30
got=$(argv_of 1)
[ "$got" = "--remote https://api.example.com" ] || fail "--remote without a model here: $got"
keys C-q
wait_for 'TUI-EXIT=0' 20

# Profiles: one on the model here (remote: local beats config.yaml's server), one on the team's
# server; choosing the team profile (F7) starts a new engine for it.
mkdir -p "$PROFILES"
printf 'description: the model here\nremote: local\n' > "$PROFILES/here.yaml"
printf 'description: the team server\nremote:\n  url: https://team.example.org/v1\n  api_key_env: TEAM_KEY\n' > "$PROFILES/team.yaml"
: > "$T/argv"
tui_start 120 30 --engine "$FAKE" --profile here
wait_for ' ready ' 30
got=$(argv_of 1)
[ "$got" = "--model $MODEL" ] || fail "remote: local should run the model here: $got"
keys F7
wait_for 'Profile \(system prompt, mode, sampling\)' 10
# sorted: chinese coder completion explain fim here long reviewer team tests; "here" is selected
keys Down Down Down
keys Enter
wait_for 'profile team' 10
wait_cmd 20 "a second engine for the team profile" sh -c "[ \$(grep -c '^start\$' '$T/argv') = 2 ]"
got=$(argv_of 2)
[ "$got" = "--remote https://team.example.org/v1 --api-key-env TEAM_KEY --model $MODEL" ] || fail "team profile: $got"
wait_for '│ remote gpu\.example\.org:8443 ' 20
keys 'Team question.' Enter
wait_for 'Hello from the server\.' 20
team_conv=$(grep -l '^profile: team' "$CONVDIR"/*.yaml | head -1)
[ -n "$team_conv" ] || fail "the team conversation was not saved with its profile"
keys C-q
wait_for 'TUI-EXIT=0' 20
no_key_anywhere

# A conversation goes on to its own profile's engine: opened from the list in a TUI on the model
# here, the team's conversation starts the team's server engine again; --load does the same.
: > "$T/argv"
tui_start 120 30 --engine "$FAKE" --profile here
wait_for ' ready ' 30
[ "$(argv_of 1)" = "--model $MODEL" ] || fail "the profile here: $(argv_of 1)"
keys F2
wait_for 'Conversations \(' 10
keys /
wait_for 'Search conversations' 10
keys 'Team question'
wait_for 'Conversations \(1\)' 10
keys Enter
keys Enter
wait_for 'opened "Team question\.": profile team, engine https://team\.example\.org/v1' 20
wait_cmd 20 "a second engine for the team conversation" sh -c "[ \$(grep -c '^start\$' '$T/argv') = 2 ]"
got=$(argv_of 2)
[ "$got" = "--remote https://team.example.org/v1 --api-key-env TEAM_KEY --model $MODEL" ] ||
	fail "the team conversation's engine: $got"
wait_for '│ remote gpu\.example\.org:8443 ' 20
keys C-q
wait_for 'TUI-EXIT=0' 20
: > "$T/argv"
tui_start 120 30 --engine "$FAKE" --load "$team_conv"
wait_for ' ready ' 30
got=$(argv_of 1)
[ "$got" = "--remote https://team.example.org/v1 --api-key-env TEAM_KEY --model $MODEL" ] ||
	fail "--load of the team conversation: $got"
keys C-q
wait_for 'TUI-EXIT=0' 20
no_key_anywhere

# Mistakes: one sentence naming the file, the line and the key, and a non-zero exit.
printf 'remote:\n  url: ftp://gpu.example.org\n' > "$CFG"
tui_start 120 30 --engine "$FAKE"
wait_for 'TUI-EXIT=1' 20
grep -q 'config.yaml:2: remote url must start with http:// or https://' "$T/tui.err" || fail "bad url: $(cat "$T/tui.err")"
printf 'remote:\n  url: https://h/v1\n  api_key_env: %s\n' "$KEY" > "$CFG"
tui_start 120 30 --engine "$FAKE"
wait_for 'TUI-EXIT=1' 20
grep -q 'config.yaml:3: remote api_key_env must name an environment variable' "$T/tui.err" ||
	fail "a key in api_key_env: $(cat "$T/tui.err")"
grep -qF -- "$KEY" "$T/tui.err" && fail "the error repeats the key: $(cat "$T/tui.err")"
rm -f "$CFG"
printf 'remote:\n  urll: https://h\n' > "$PROFILES/here.yaml"
tui_start 120 30 --engine "$FAKE" --profile here
wait_for 'TUI-EXIT=1' 20
grep -q 'here.yaml:2: unknown key "urll" in remote; did you mean "url"' "$T/tui.err" || fail "bad profile: $(cat "$T/tui.err")"
# The command line is checked before anything starts.
out=$("$TUI" --remote localhost:8000 2>&1) && fail "--remote localhost:8000 accepted"
[ "$out" = "dscoder-tui: --remote must start with http:// or https://" ] || fail "--remote localhost:8000: $out"
out=$("$TUI" --api-key-env TEAM_KEY 2>&1) && fail "--api-key-env without --remote accepted"
echo "$out" | grep -q 'go with --remote URL' || fail "--api-key-env alone: $out"
exit 0
