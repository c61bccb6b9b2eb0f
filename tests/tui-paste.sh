#!/bin/sh
# tui-paste.sh: a 1 MB bracketed paste arrives in one piece and the editor stays responsive; pasted
# newlines do not send; invalid UTF-8 and escape sequences in a paste are shown as U+FFFD (never
# reach the terminal) and are saved as U+FFFD.
. "$top_srcdir/tests/tui-lib.sh"

tui_start 100 30
wait_for ' ready ' 60

# Invalid UTF-8 and an escape sequence inside a paste.
printf 'bad\377\376|\303(|\355\240\200|ok\033[31mred\nline2' > "$T/bad.txt"
tmux -L "$SOCK" load-buffer "$T/bad.txt"
tmux -L "$SOCK" paste-buffer -p -t tui
wait_for 'line2' 10
wait_for '^❯ bad�' 10
screen | grep -q 'You' && fail "a pasted newline sent the message"
keys Enter
wait_for ' ready ' 60
keys 'M-<'
wait_for '^  bad�' 10
f=$(conv_file)
wait_cmd 20 "the answer is saved" grep -q 'finish:' "$f"
grep -q 'bad��|�(|���|ok\[31mred' "$f" || { cat "$f"; fail "the pasted text was not saved with U+FFFD"; }

# 1 MB: 16384 lines of 63 characters plus a newline.
awk 'BEGIN { for (i = 0; i < 16384; i++) printf "%05d abcdefghijklmnopqrstuvwxyz 0123456789 ABCDEFGHIJKLMNOPQRS\n", i }' > "$T/big.txt"
size=$(wc -c < "$T/big.txt")
[ "$size" = 1048576 ] || fail "the test paste is $size bytes"
tmux -L "$SOCK" load-buffer "$T/big.txt"
tmux -L "$SOCK" paste-buffer -p -t tui
wait_for '1048576 bytes' 120
# (waited for, not grepped once: a capture can catch tmux halfway through drawing a frame)
wait_for '16383 abcdefghijklmnopqrstuvwxyz' 10
# Still responsive: a typed key shows up.
keys 'Z'
wait_for '1048577 bytes' 20
keys C-q
wait_for 'TUI-EXIT=0' 30
