#!/bin/sh
# tui-chat.sh: end to end in tmux: type and send, the answer streams in with its stats, regenerate,
# edit the last question and resend, the conversation is saved (0600), help, Ctrl-C asks before
# quitting, quit shuts the engine down, relaunch with --load, the list opens it, export to Markdown.
. "$top_srcdir/tests/tui-lib.sh"

tui_start 100 30
wait_for ' ready ' 60
wait_for 'Message · chat' 10
keys 'What is a pointer?' Enter
wait_for '^▌ You' 20
wait_for 'tokens · first token [0-9]+ ms · [0-9.]+ tok/s' 60
wait_for 'What is a pointer?' 10
f=$(conv_file)
grep -q 'What is a pointer?' "$f" || fail "the question is not saved in $f"
grep -q 'role: assistant' "$f" || fail "the answer is not saved in $f"
mode=$(stat -c %a "$f")
[ "$mode" = 600 ] || fail "conversation file mode is $mode, not 600"
grep -q 'finish:' "$f" || fail "no per-answer stats in $f"

# Regenerate: a new answer (the seed is random) replaces the old one.
cp "$f" "$T/before.yaml"
keys F5
wait_cmd 60 "the regenerated answer is saved" sh -c "! cmp -s '$f' '$T/before.yaml' && grep -q 'finish:' '$f'"
wait_for ' ready ' 60
n=$(grep -c 'role: assistant' "$f")
[ "$n" = 1 ] || fail "after regenerate the file has $n answers, expected 1"

# Edit the last question and resend: the old one is replaced.
keys F4
wait_for 'Edit your last message' 10
keys C-u 'What is a reference?' Enter
wait_for '^  What is a reference\?' 20
wait_for ' ready ' 60
wait_cmd 20 "the edited question is saved" grep -q 'finish:' "$f"
grep -q 'What is a reference?' "$f" || fail "edited question not saved"
grep -q '^    What is a pointer?' "$f" && fail "the edited question is still in the file"
[ "$(grep -c 'role: user' "$f")" = 1 ] || fail "edit-and-resend left $(grep -c 'role: user' "$f") questions"

# Help overlay, generated from the key table.
keys F1
wait_for 'dscoder-tui keys' 10
wait_for 'Ctrl-C  .*stop the answer' 10
keys NPage
wait_for 'Alt-Enter.*insert a newline' 10
keys Escape
wait_gone 'dscoder-tui keys' 10

# Ctrl-C when idle asks; n keeps running.
keys C-c
wait_for 'Quit dscoder-tui\?' 10
keys n
wait_gone 'Quit dscoder-tui\?' 10

# Export to Markdown (asks for the path).
keys F8
wait_for 'Export the conversation' 10
keys C-u "$T/out.md" Enter
wait_for 'exported to' 10
grep -q '^## User' "$T/out.md" || fail "export has no '## User' heading"
grep -q 'What is a reference?' "$T/out.md" || fail "export lacks the question"
# Exporting again asks before overwriting; n leaves the file alone.
echo keep > "$T/out.md"
keys F8
wait_for 'Export the conversation' 10
keys C-u "$T/out.md" Enter
wait_for 'Overwrite\?' 10
keys n
wait_for 'not saved' 10
[ "$(cat "$T/out.md")" = keep ] || fail "export overwrote a file after 'n'"

# Quit: the engine is shut down, the TUI exits 0.
epid=$(engine_pid)
[ -n "$epid" ] || fail "no engine process"
keys C-q
wait_for 'TUI-EXIT=0' 20
if kill -0 "$epid" 2>/dev/null; then fail "engine $epid still running after quit"; fi

# Relaunch with --load: the conversation is back, and continues.
# The answers are random text of random length, so go to the top before looking for the question.
tui_start 100 30 --load "$f"
wait_for ' ready ' 60
keys 'M-<'
wait_for '^  What is a reference\?' 10
keys 'And a value?' Enter
wait_for '^  And a value\?' 10
wait_for ' ready ' 60
wait_cmd 20 "the second answer is saved" sh -c "[ \$(grep -c 'finish:' '$f') = 2 ]"
[ "$(grep -c 'role: user' "$f")" = 2 ] || fail "the loaded conversation did not continue in $f"

# New conversation, then the list opens the old one again.
keys M-n
wait_for 'new conversation' 10
screen | grep -q 'What is a reference' && fail "new conversation still shows the old one"
keys F2
wait_for 'Conversations \(1\)' 10
keys Enter
keys 'M-<'
wait_for '│  What is a reference\?' 10
keys C-q
wait_for 'TUI-EXIT=0' 20
exit 0
