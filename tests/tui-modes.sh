#!/bin/sh
# tui-modes.sh: the system prompt pane (edit, save, discard), the three modes: chat, completion
# (the text continued as is) and fill-in-the-middle (prefix and suffix fields, the answer shown as
# the hole between them), and the profile chooser.
. "$top_srcdir/tests/tui-lib.sh"

# The coder profile as shipped, but with answers of at most 48 tokens: its random seed let the tiny
# model's fill-in-the-middle answer run to 1,500 tokens now and then, which scrolled the
# "Fill-in-the-middle" header this test looks for off the screen.
sed -e 's/^  max_tokens: .*/  max_tokens: 48/' "$top_srcdir/profiles/coder.yaml" \
	> "$XDG_CONFIG_HOME/dscoder-tui/profiles/coder.yaml"
grep -q '^  max_tokens: 48$' "$XDG_CONFIG_HOME/dscoder-tui/profiles/coder.yaml" ||
	fail "profiles/coder.yaml has no sampling max_tokens line to shorten"

tui_start 100 30 --profile coder
wait_for ' ready ' 60

# System prompt: F3 opens it with the profile's prompt; Esc discards, Ctrl-S saves.
keys F3
wait_for 'System prompt' 10
wait_for 'expert programming assistant' 10
keys M-, C-k C-k C-k C-k 'Answer like a pirate.'
wait_for 'Answer like a pirate' 10
keys Escape
wait_for 'system prompt unchanged' 10
keys F3
wait_for 'System prompt' 10
keys M-, C-k C-k C-k C-k C-k C-k 'Answer like a pirate.' C-s
wait_for 'system prompt saved' 10
keys 'hello' Enter
wait_answers 1
f=$(conv_file)
grep -q 'Answer like a pirate\.' "$f" || fail "the system prompt is not saved"
grep -q 'expert programming assistant' "$f" && fail "the old system prompt is still there"

# Completion mode.
keys F6
wait_for 'mode completion' 10
wait_for 'Prompt · completion' 10
keys 'int main(void) {' Enter
wait_answers 2
wait_cmd 20 "mode completion is saved" grep -q '^mode: completion' "$f"

# Fill in the middle: prefix, Tab, suffix.
keys F6
wait_for 'Prefix \(code before the hole\)' 10
keys 'def add(a, b):' C-j '    '
keys Tab
wait_for 'Suffix \(code after the hole\)' 10
keys '    return c' C-j
keys Enter
wait_answers 3
wait_for '^▌ Fill-in-the-middle' 20
wait_cmd 20 "the fim fields are saved" grep -q '^mode: fim' "$f"
grep -q 'def add(a, b):' "$f" || fail "the prefix is not saved"
grep -q 'return c' "$f" || fail "the suffix is not saved"
screen | grep -A3 '^▌ Fill-in-the-middle' | grep -q 'def add(a, b):' || fail "the answer is not shown between prefix and suffix"

# Back to chat; the profile chooser applies a profile.
keys F6
wait_for 'Message · chat' 10
keys F7
wait_for 'Profile \(system prompt, mode, sampling\)' 10
wait_for 'reviewer' 10
keys Escape
wait_gone 'Profile \(system prompt' 10
keys C-q
wait_for 'TUI-EXIT=0' 30
