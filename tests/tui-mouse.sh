#!/bin/sh
# tui-mouse.sh: the mouse wheel scrolls the transcript (up leaves the end and shows where the view is,
# down comes back), and over the conversation list it moves the selection; a click on a list row
# selects it and a second click opens it. The terminal's mouse reports are typed into the pane as a
# terminal sends them, in both formats (SGR, which the TUI asks for, and X10, which terminals without
# it send), also several in one burst, as a quick double click or a fast wheel gives them.
. "$top_srcdir/tests/tui-lib.sh"

# x10 BUTTON COLUMN ROW (0-based): one X10 report, ESC [ M and three bytes of value + 32 (button 3 is
# a release); sgr BUTTON COLUMN ROW [m]: one SGR report, ESC [ < b ; x ; y and M (press) or m.
x10() { printf '\033[M%b' "\\$(printf '%03o' $(($1 + 32)))\\$(printf '%03o' $(($2 + 33)))\\$(printf '%03o' $(($3 + 33)))"; }
sgr() { printf '\033[<%d;%d;%d%s' "$1" $(($2 + 1)) $(($3 + 1)) "${4:-M}"; }
mouse() { keys -l "$(x10 "$@")"; }
wheel_up() { keys -l "$(sgr 64 "$1" "$2")"; }
wheel_down() { mouse 65 "$1" "$2"; }

mkdir -p "$CONVDIR"
mkconv() {   # mkconv FILE TITLE UPDATED TEXT
	printf 'version: 1\ntitle: %s\ncreated: %s\nupdated: %s\nmode: chat\nmessages:\n- role: user\n  time: %s\n  content: |-\n    %s\n' \
		"$2" "$3" "$3" "$3" "$4" > "$CONVDIR/$1.yaml"
}
mkconv 20260101-000000-aaaaaa 'Apple pie recipe' 2026-01-01T00:00:00Z 'how do I bake an apple pie'
mkconv 20260102-000000-bbbbbb 'Banana bread' 2026-01-02T00:00:00Z 'what about banana bread with walnuts'

tui_start 100 30 --profile long
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
# A double click in one burst (X10: press, release, press, release) opens Banana bread.
keys -l "$(x10 0 5 2)$(x10 3 5 2)$(x10 0 5 2)$(x10 3 5 2)"
wait_for '│  what about banana bread with walnuts' 30
# The wheel over the list moves the selection (down to the last row); Tab focuses the list, Enter
# opens the selected row.
wheel_down 5 2
keys Tab Enter
wait_for '│  how do I bake an apple pie' 30
# An SGR double click in one burst on row 2 opens Banana bread again.
keys -l "$(sgr 0 5 2)$(sgr 0 5 2 m)$(sgr 0 5 2)$(sgr 0 5 2 m)"
wait_for '│  what about banana bread with walnuts' 30
# A burst of 40 wheel reports over the transcript scrolls it, and the TUI answers the next key at once.
keys -l "$(for i in $(seq 1 40); do sgr 64 50 10; done)"
keys F2
wait_gone 'Conversations \(3\)' 10
keys C-q
wait_for 'TUI-EXIT=0' 20
exit 0
