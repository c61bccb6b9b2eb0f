#!/bin/sh
# tui-save-conflict.sh: end to end in tmux: two TUIs on one conversation. Each save used to replace the
# file with its own view, so the turns of the TUI that saved first vanished. Now the second one merges
# them (and says so), both questions stay in the file in order, and quitting the first keeps the
# second's turn too.
. "$top_srcdir/tests/tui-lib.sh"

# The second TUI: a second session of the same tmux server.
screen2() { tmux -L "$SOCK" capture-pane -p -t tui2; }
keys2() { tmux -L "$SOCK" send-keys -t tui2 "$@"; }
wait_for2() {
	n=$(( ${2:-60} * 10 ))
	while [ "$n" -gt 0 ]; do
		screen2 | grep -Eq -- "$1" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	echo "--- screen of the second TUI:"
	screen2
	fail "the second TUI: timed out waiting for /$1/"
}
finishes() { grep -c '^    finish:' "$1"; }

tui_start 100 30
wait_for ' ready ' 60
keys 'first question' Enter
wait_answers 1
f=$(conv_file)

cmd="cd '$T' && '$TUI' --model '$MODEL' --engine '$ENGINE' --load '$f' 2>'$T/tui2.err'; echo TUI-EXIT=\\\$?; sleep 600"
tmux -L "$SOCK" new-session -d -s tui2 -x 100 -y 30 \
	"env HOME='$HOME' XDG_CONFIG_HOME='$XDG_CONFIG_HOME' XDG_DATA_HOME='$XDG_DATA_HOME' DSCODER_DATADIR='$DSCODER_DATADIR' LANG=C.UTF-8 TERM=$TUI_TERM sh -c \"$cmd\""
wait_for2 ' ready ' 60
wait_for2 'first question' 10

# A sends and its turn is saved; then B, which loaded the file before, sends too.
keys 'question from A' Enter
wait_cmd 120 "A's answer is saved" sh -c "[ \$(grep -c '^    finish:' '$f') -ge 2 ]"
wait_for ' ready ' 60
keys2 'question from B' Enter
wait_for2 'merged 2 messages that another dscoder-tui saved' 30
# B's own answer is saved after A's turn.
wait_cmd 120 "B's answer is saved" sh -c "[ \$(grep -c '^    finish:' '$f') -ge 3 ]"
wait_for2 ' ready ' 60
order=$(grep -E '^    (first question|question from A|question from B)$' "$f" | tr '\n' '/')
[ "$order" = "    first question/    question from A/    question from B/" ] ||
	fail "the questions in $f are, in order: $order"
[ "$(grep -c 'role: assistant' "$f")" = 3 ] || fail "$f holds $(grep -c 'role: assistant' "$f") answers, expected 3"

# A quits without sending again: its last save keeps B's turn.
keys C-q
wait_for 'TUI-EXIT=0' 20
grep -q '^    question from B$' "$f" || fail "quitting A dropped B's question from $f"
[ "$(finishes "$f")" = 3 ] || fail "after A quit, $f holds $(finishes "$f") finished answers, expected 3"
keys2 C-q
wait_for2 'TUI-EXIT=0' 20
[ "$(ls "$CONVDIR" | wc -l)" = 1 ] || fail "expected one conversation, found: $(ls "$CONVDIR")"
grep -q '^    question from A$' "$f" || fail "quitting B dropped A's question from $f"
exit 0
