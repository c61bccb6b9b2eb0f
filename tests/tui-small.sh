#!/bin/sh
# tui-small.sh: a 10x3 terminal shows one line saying it is too small, and the full screen comes back
# when the terminal grows; shrinking below 40x12 and growing again recovers the same way.
. "$top_srcdir/tests/tui-lib.sh"

tui_start 10 3
wait_for '^too small' 30
[ "$(screen | grep -c .)" = 1 ] || fail "more than one line on a 10x3 terminal"
resize 80 24
wait_for 'Message · chat' 10
wait_for ' ready ' 60
keys 'hello' Enter
wait_for 'tokens · first token' 60
resize 39 12
wait_for '^terminal too small' 10
resize 40 12
wait_for '❯' 10
screen | grep -q 'too small' && fail "40x12 is said to be too small"
resize 100 30
# the answer is random text of any length: go to the top to see the question
keys 'M-<'
wait_for '^  hello' 10
keys C-q
wait_for 'TUI-EXIT=0' 20
