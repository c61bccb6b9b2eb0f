#!/bin/sh
# tui-ranks.sh: engine options from config.yaml reach the engine: engine_args [--simulate-ranks, 2]
# serves the model split over two CPU ranks (the multi-GPU partition), the status bar names that
# backend and an answer streams; a bad devices value is one sentence naming the file and line.
. "$top_srcdir/tests/tui-lib.sh"

mkdir -p "$XDG_CONFIG_HOME/dscoder-tui"
printf 'engine_args: [--simulate-ranks, "2"]\nthreads: 2\n' > "$XDG_CONFIG_HOME/dscoder-tui/config.yaml"
tui_start 120 30
wait_for ' ready ' 60
wait_for '│ cpu, 2 simulated ranks' 10
epid=$(engine_pid)
tr '\0' ' ' < "/proc/$epid/cmdline" | grep -q -- '--threads 2 --simulate-ranks 2' \
	|| fail "engine command line: $(tr '\0' ' ' < "/proc/$epid/cmdline")"
keys 'What is a pointer?' Enter
wait_for 'tokens · first token [0-9]+ ms · [0-9.]+ tok/s' 60
keys C-q
wait_for 'TUI-EXIT=0' 20

printf 'devices: 0,,1\n' > "$XDG_CONFIG_HOME/dscoder-tui/config.yaml"
tui_start 120 30
wait_for 'TUI-EXIT=1' 20
grep -q 'config.yaml:1: devices must be GPU numbers joined by commas' "$T/tui.err" \
	|| fail "bad devices: $(cat "$T/tui.err")"
exit 0
