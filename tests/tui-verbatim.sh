#!/bin/sh
# tui-verbatim.sh: what the user typed is shown as typed, not as Markdown: a pasted Python class
# keeps its indentation, __init__ and __name__ their underscores, *, ** and backticks stay; a fenced
# block in the question is still a highlighted code block. In completion mode the prompt is shown
# as typed too.
. "$top_srcdir/tests/tui-lib.sh"

cat > "$XDG_CONFIG_HOME/dscoder-tui/profiles/short.yaml" <<'YAML'
description: a few tokens, so the question stays on screen
mode: chat
sampling:
  temperature: 0
  max_tokens: 3
YAML
cat > "$XDG_CONFIG_HOME/dscoder-tui/profiles/short-completion.yaml" <<'YAML'
description: completion, a few tokens
mode: completion
sampling:
  temperature: 0
  max_tokens: 3
YAML

cat > "$T/class.py" <<'PY'
class Greeter:
    """Says *hello* to `name` (a_b * c_d)."""

    def __init__(self, name):
        self._name = name  # a **private** field
        self.__secret = 2*3*4

    def greet(self):
        return "hi " + self._name
- not a list item
# not a heading
> not a quote
if __name__ == "__main__":
    print(Greeter("x").greet())
PY
# The lines as they must appear on screen: the transcript's 2-column margin, then the text.
expect_lines() {
	while IFS= read -r line; do
		[ -z "$line" ] && continue
		screen | grep -qxF -- "  $line" || return 1
	done < "$1"
	return 0
}
paste_file() {
	tmux -L "$SOCK" load-buffer "$1"
	tmux -L "$SOCK" paste-buffer -p -t tui
}

tui_start 100 50 --profile short
wait_for ' ready ' 60
paste_file "$T/class.py"
wait_for 'print\(Greeter' 10
keys Enter
wait_for '^▌ You' 20
wait_answers 1
wait_cmd 10 "the question is shown exactly as pasted" expect_lines "$T/class.py"
# Blank lines are kept: the line after the docstring is empty on screen too.
screen | grep -A1 -F 'Says *hello*' | tail -n 1 | grep -qx '' ||
	fail "the blank line after the docstring is gone"

# A fenced block in a question is a code block (header, no fences shown); text around it as typed.
printf 'see *this* __x__:\n```python\ndef f():\n    return 1\n```\nafter_it' > "$T/fenced.txt"
keys M-n
wait_for 'new conversation' 10
paste_file "$T/fenced.txt"
wait_for 'after_it' 10
keys Enter
wait_cmd 120 "the second answer is saved" sh -c "grep -l after_it '$CONVDIR'/*.yaml | xargs grep -q 'finish:'"
wait_for ' ready ' 60
wait_for '^  see \*this\* __x__:$' 10
wait_for '\[1\] python' 10
screen | grep -q '```' && fail "the fence lines are shown"
screen | grep -q '^  after_it$' || fail "the text after the block is not shown as typed"
keys C-q
wait_for 'TUI-EXIT=0' 30

# Completion mode: the prompt is shown as typed.
tui_start 100 50 --profile short-completion
wait_for ' ready ' 60
paste_file "$T/class.py"
wait_for 'print\(Greeter' 10
keys Enter
wait_for '^▌ You' 20
wait_for ' ready ' 60
wait_cmd 10 "the completion prompt is shown exactly as pasted" expect_lines "$T/class.py"
keys C-q
wait_for 'TUI-EXIT=0' 30
