#!/bin/sh
# tui-mouse.sh: the mouse wheel scrolls the transcript (up leaves the end and shows where the view is,
# down comes back), and over the conversation list it moves the selection; a click on a list row
# selects it and a second click opens it. The terminal's mouse reports (X10 encoding, the kmous of
# tmux-256color and screen) are typed into the pane as the terminal would send them.
. "$top_srcdir/tests/tui-lib.sh"

# mouse BUTTON COLUMN ROW (0-based): one X10 report, ESC [ M followed by three bytes of value + 32.
mouse() {
	keys -l "$(printf '\033[M')$(printf "\\$(printf '%03o' $(($1 + 32)))\\$(printf '%03o' $(($2 + 33)))\\$(printf '%03o' $(($3 + 33)))")"
}
wheel_up() { mouse 64 "$1" "$2"; }
wheel_down() { mouse 65 "$1" "$2"; }

mkdir -p "$CONVDIR"
mkconv() {   # mkconv FILE TITLE UPDATED TEXT
	printf 'version: 1\ntitle: %s\ncreated: %s\nupdated: %s\nmode: chat\nmessages:\n- role: user\n  time: %s\n  content: |-\n    %s\n' \
		"$2" "$3" "$3" "$3" "$4" > "$CONVDIR/$1.yaml"
}
mkconv 20260101-000000-aaaaaa 'Apple pie recipe' 2026-01-01T00:00:00Z 'how do I bake an apple pie'
mkconv 20260102-000000-bbbbbb 'Banana bread' 2026-01-02T00:00:00Z 'what about banana bread with walnuts'

tui_start 100 30
wait_for ' ready ' 60
send_long_message
wait_for ' ready ' 120
screen | grep -Eq '[0-9]+%' && fail "the view is not at the end after the answer"
wheel_up 50 10
wait_for '[0-9]+%' 10
top1=$(screen | sed -n 2p)
wheel_up 50 10
wheel_up 50 10
wait_cmd 10 "the wheel scrolled further up" sh -c "[ \"\$(tmux -L '$SOCK' capture-pane -p -t tui | sed -n 2p)\" != '$top1' ]"
for i in $(seq 1 80); do wheel_down 50 10; done
wait_gone '[0-9]+%' 10

# The list, newest first: row 1 is this conversation, row 2 Banana bread, row 3 Apple pie.
keys F2
wait_for 'Conversations \(3\)' 10
mouse 0 5 2
mouse 3 5 2
mouse 0 5 2
mouse 3 5 2
wait_for '│  what about banana bread with walnuts' 30
# The wheel over the list moves the selection (down to the last row); Tab focuses the list, Enter
# opens the selected row.
wheel_down 5 2
keys Tab Enter
wait_for '│  how do I bake an apple pie' 30
keys C-q
wait_for 'TUI-EXIT=0' 20
exit 0
