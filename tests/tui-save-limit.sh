#!/bin/sh
# tui-save-limit.sh: end to end in tmux: a save past the file size limit (ulimit -f, set on the running
# TUI with prlimit) says "not saved" with the reason instead of SIGXFSZ killing the TUI; the TUI goes
# on (the answer arrives), leaves no temp file, saves everything once the limit is lifted, and
# quitting restores the terminal.
. "$top_srcdir/tests/tui-lib.sh"
command -v prlimit >/dev/null 2>&1 || { echo "prlimit not installed: skipped"; exit 77; }

tui_start 100 30
wait_for ' ready ' 60
pid=$(tui_pid)
[ -n "$pid" ] || fail "no dscoder-tui process"
# A soft limit of 200 bytes (the hard one stays, so it can be lifted again): less than any
# conversation file (the header and settings alone are longer).
prlimit --pid "$pid" --fsize=200: || fail "prlimit could not set the file size limit of $pid"

keys 'What is a file size limit?' Enter
wait_for 'not saved: the file size limit \(ulimit -f\)' 20
# Still running: the answer streams in and finishes.
wait_for 'tokens · first token [0-9]+ ms' 60
wait_for ' ready ' 60
kill -0 "$pid" 2>/dev/null || fail "dscoder-tui died"
for f in "$CONVDIR"/.* "$CONVDIR"/*; do
	case $f in */.|*/..|*'/.*'|*'/*') continue ;; esac
	fail "a failed save left $f behind"
done

# The limit lifted, the next save (quitting) writes the whole conversation.
prlimit --pid "$pid" --fsize=unlimited: || fail "prlimit could not lift the limit"
keys C-q
wait_for 'TUI-EXIT=0' 20
[ "$(tmux -L "$SOCK" display-message -p -t tui '#{alternate_on}')" = 0 ] ||
	fail "the terminal was left in the alternate screen (curses mode)"
f=$(conv_file)
grep -q 'What is a file size limit?' "$f" || fail "the question is not in $f after the limit was lifted"
grep -q 'finish:' "$f" || fail "the answer is not in $f after the limit was lifted"
ls -a "$CONVDIR" | grep -q '^\.[^.]' && fail "temp files left: $(ls -a "$CONVDIR")"
exit 0
