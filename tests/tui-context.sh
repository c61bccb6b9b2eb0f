#!/bin/sh
# tui-context.sh: a conversation that outgrows a small context (config.yaml ctx: 700): the context
# meter fills, the TUI says by how much it is over, offers to drop the oldest turns (the system
# prompt stays), and after yes answers the question.
. "$top_srcdir/tests/tui-lib.sh"

mkdir -p "$XDG_CONFIG_HOME/dscoder-tui/profiles"
printf 'ctx: 700\nprofile: terse\n' > "$XDG_CONFIG_HOME/dscoder-tui/config.yaml"
cat > "$XDG_CONFIG_HOME/dscoder-tui/profiles/terse.yaml" <<'YAML'
description: greedy and short, for the test
system_prompt: You are terse.
mode: chat
sampling:
  temperature: 0
  max_tokens: 150
YAML
tui_start 100 30
wait_for ' ready ' 60
wait_for 'ctx .* [0-9]+/700' 20
asked=0
for q in one two three four five six; do
	keys "question $q" Enter
	asked=$((asked + 1))
	wait_for "^  question $q" 20
	wait_for ' ready |does not fit' 120
	screen | grep -q 'does not fit' && break
done
wait_for 'does not fit in the context' 10
wait_for 'tokens over the model.s context of 700 tokens' 5
f=$(conv_file)
before=$(grep -c 'role: user' "$f")
keys y
wait_for ' generating | ready ' 60
wait_cmd 60 "oldest turns are dropped" sh -c "[ \$(grep -c 'role: user' '$f') -lt $before ]"
wait_for ' ready ' 120
grep -q 'You are terse' "$f" || fail "the system prompt was dropped"
wait_cmd 30 "the question after the drop is answered" sh -c "tail -n 12 '$f' | grep -q 'finish:'"
grep -q "question $q" "$f" || fail "the last question was dropped"
keys C-q
wait_for 'TUI-EXIT=0' 30
