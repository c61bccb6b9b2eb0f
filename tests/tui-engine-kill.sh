#!/bin/sh
# tui-engine-kill.sh: the engine killed with SIGKILL in the middle of an answer: the TUI shows why and
# the engine's last stderr lines, the conversation on disk is intact (and loads), a key restarts the
# engine and the next question is answered.
. "$top_srcdir/tests/tui-lib.sh"

tui_start 100 30 --profile long
wait_for ' ready ' 60
send_long_message
# Killed once tokens arrive (the status shows a rate), so that the answer has real figures to keep.
wait_for ' generating [0-9]+ · [0-9]+ tok/s' 120
epid=$(engine_pid)
[ -n "$epid" ] || fail "no engine process"
kill -KILL "$epid"
wait_for 'engine stopped' 20
wait_for 'The engine was killed by signal 9' 10
wait_for 'F12' 10
f=$(conv_file)
grep -q 'lazy dog 149' "$f" || fail "the question is not on disk"
# The cut answer keeps the figures measured until the kill (not ttft_ms: 0, decode_tps: 0).
stats=$(grep -B6 'finish: error' "$f")
[ -n "$stats" ] || fail "the cut answer has no stats"
echo "$stats" | awk '/ttft_ms:|decode_tps:/ { if ($2 + 0 <= 0) bad = 1; n++ } END { exit bad || n != 2 }' ||
	fail "the cut answer's figures are lost: $stats"
# The file is intact: the TUI loads it in a second window... by loading it with the library through
# a second TUI would need a second engine; conv_load is what --load uses, so load it for real.
cp "$f" "$T/copy.yaml"
keys F12
wait_for ' ready ' 120
keys C-u 'short question' Enter
wait_cmd 60 "the question after the restart is saved" grep -q 'short question' "$f"
# (the stats, not ' ready ': the screen says ready until the new answer starts)
wait_cmd 240 "the answer's stats are saved" sh -c "grep -A12 'short question' '$f' | grep -q 'finish:'"
wait_for ' ready ' 60
keys C-q
wait_for 'TUI-EXIT=0' 30
# The copy taken right after the kill loads.
tui_start 100 30 --load "$T/copy.yaml"
wait_for 'engine stopped' 30
# (from the top: the answer cut by the kill may fill more than the screen)
keys 'M-<'
wait_for 'lazy dog 0\. ' 30
keys C-q
wait_for 'TUI-EXIT=0' 30
