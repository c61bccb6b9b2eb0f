#!/bin/sh
# tui-find.sh: finding text in the transcript: Ctrl-S asks, the view moves to the first match below
# it with "k of n lines", n and N go on and wrap around, the match is drawn in the search colours,
# a query with capitals matches case exactly (smart case), Esc clears; / in the transcript asks too.
. "$top_srcdir/tests/tui-lib.sh"

mkdir -p "$CONVDIR"
{
	printf 'version: 1\ntitle: Haystack\ncreated: 2026-01-01T00:00:00Z\nupdated: 2026-01-01T00:00:00Z\n'
	printf 'mode: chat\nmessages:\n- role: user\n  time: 2026-01-01T00:00:00Z\n  content: |-\n    find it\n'
	printf -- '- role: assistant\n  time: 2026-01-01T00:00:00Z\n  content: |-\n'
	for i in $(seq 1 120); do
		case $i in
		10|60|110) printf '    line %d has the needle in it\n\n' "$i" ;;
		*) printf '    line %d is hay\n\n' "$i" ;;
		esac
	done
} > "$CONVDIR/20260101-000000-aaaaaa.yaml"

tui_start 100 30 --load "$CONVDIR/20260101-000000-aaaaaa.yaml"
wait_for ' ready ' 60
wait_for 'line 120 is hay' 10
keys C-s
wait_for 'Find in the transcript' 10
keys needle Enter
wait_for '"needle": 1 of 3 lines' 10
wait_for 'line 10 has the needle' 10
tmux -L "$SOCK" capture-pane -e -p -t tui | grep 'line 10 has the' | grep -q "$(printf '\033')\[[0-9;]*m*needle" \
	|| fail "the match is not drawn in its own colours"
keys n
wait_for '"needle": 2 of 3 lines' 10
wait_for 'line 60 has the needle' 10
screen | grep -q 'line 10 has' && fail "line 10 still on screen after moving 50 lines down"
keys n
wait_for 'line 110 has the needle' 10
keys n
wait_for '"needle": 1 of 3 lines \(from the top\)' 10
keys N
wait_for '"needle": 3 of 3 lines \(from the end\)' 10

# Capitals: exact case; no match is said, and the view stays.
keys /
wait_for 'Find in the transcript' 10
keys C-u Needle Enter
wait_for '"Needle" is not in this conversation' 10
keys C-s C-u HAS Enter
wait_for '"HAS" is not in this conversation' 10
keys C-s C-u has Enter
wait_for '"has": 3 of 3 lines' 10   # forward from the view, which shows line 110

# Esc goes back to the input and clears the highlight.
keys Escape
sleep 0.3
tmux -L "$SOCK" capture-pane -e -p -t tui | grep 'line 110 has' | grep -q "$(printf '\033')\[[0-9;]*m*has" \
	&& fail "the highlight stayed after Esc"
keys C-q
wait_for 'TUI-EXIT=0' 20
exit 0
