#!/bin/sh
# tui-stream.sh: while an answer is running: resizing reflows without garbage (the screen equals a
# full repaint), Esc cancels (the answer is kept and marked stopped), scrolling up stops following
# the end.
. "$top_srcdir/tests/tui-lib.sh"

tui_start 100 30 --profile long
wait_for ' ready ' 60
send_long_message
resize 60 20
resize 130 40
resize 72 24
wait_width 72
# Cancel the running answer.
keys Escape
wait_for ' ready ' 120
wait_for 'stopped|tokens · first token' 20
f=$(conv_file)
wait_cmd 20 "the cancelled answer is saved" grep -q 'finish:' "$f"
grep -q 'finish: cancel' "$f" || echo "note: the answer ended before the cancel reached the engine"
# No garbage after all that: the screen equals a full repaint.
wait_still 10
screen > "$T/before.txt"
keys C-l
sleep 0.5
screen > "$T/after.txt"
cmp -s "$T/before.txt" "$T/after.txt" || { diff "$T/before.txt" "$T/after.txt"; fail "the screen differs from a repaint"; }
widest=$(LC_ALL=C.UTF-8 wc -L < "$T/after.txt")
[ "$widest" -le 72 ] || fail "a line is $widest columns wide on a 72-column terminal"

# Scroll up during a new answer: the view stays put.
keys F5
wait_for ' generating ' 20
keys PPage
wait_for '[0-9]+%|new line' 10
keys End
wait_for ' ready ' 120
keys C-q
wait_for 'TUI-EXIT=0' 30
