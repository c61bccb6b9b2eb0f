# tui-lib.sh: helpers for the end-to-end tests of dscoder-tui, sourced by tests/tui-*.sh. They run the
# real TUI and the real engine on a fixture model inside a private tmux server, in a fresh $HOME.
command -v tmux >/dev/null 2>&1 || { echo "tmux not installed: skipped"; exit 77; }
: "${top_builddir:=.}" "${top_srcdir:=.}"
MODEL=$FIXTURES/models/tiny-ds2-full
[ -d "$MODEL" ] || { echo "no fixtures at $FIXTURES: skipped"; exit 77; }
TUI=$top_builddir/dscoder-tui
ENGINE=$top_builddir/dscoder-engine
for p in "$TUI" "$ENGINE"; do
	[ -x "$p" ] || { echo "FAIL: $p is not built"; exit 1; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/tui-test.XXXXXX")
# The private tmux server's socket lives in $T (tmux -L NAME puts it in $TMUX_TMPDIR/tmux-UID/), so
# removing $T removes it: tmux kill-server leaves its socket file behind.
SOCK=test$$
TMUX_TMPDIR=$T
export TMUX_TMPDIR
tui_cleanup() {
	pid=$(tui_pid 2>/dev/null)
	tmux -L "$SOCK" kill-server 2>/dev/null
	# The TUI saves and stops its engine on SIGHUP: let it finish before removing its files.
	n=50
	while [ -n "$pid" ] && [ $n -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
		sleep 0.1
		n=$((n - 1))
	done
	rm -rf "$T"
}
trap tui_cleanup EXIT
trap 'exit 1' INT TERM HUP
HOME=$T/home
XDG_CONFIG_HOME=$T/config
XDG_DATA_HOME=$T/data
DSCODER_DATADIR=$top_srcdir
LANG=C.UTF-8
export HOME XDG_CONFIG_HOME XDG_DATA_HOME DSCODER_DATADIR LANG
unset TMUX NO_COLOR DSCODER_MODEL
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME"
CONVDIR=$XDG_DATA_HOME/dscoder-tui/conversations
TUI_TERM=tmux-256color
infocmp "$TUI_TERM" >/dev/null 2>&1 || TUI_TERM=screen

# tui_start WIDTH HEIGHT [ARGS...]: starts dscoder-tui in a new tmux server (or a new window of it).
# When the TUI exits, the pane shows "TUI-EXIT=<status>" (and stays, so it can be read).
# $TUI_ENV (NAME=VALUE words) is added to its environment; $TUI_TERM_OVERRIDE replaces its TERM.
tui_start() {
	w=$1 h=$2
	shift 2
	cmd="cd '$T' && '$TUI' --model '$MODEL' --engine '$ENGINE' $* 2>'$T/tui.err'; echo TUI-EXIT=\\\$?; sleep 600"
	if tmux -L "$SOCK" has-session 2>/dev/null; then
		# A new server for each start: killing the only session makes the server exit while the
		# next new-session may already be talking to it.
		tmux -L "$SOCK" kill-server 2>/dev/null
		n=50
		while [ $n -gt 0 ] && tmux -L "$SOCK" has-session 2>/dev/null; do
			sleep 0.1
			n=$((n - 1))
		done
		sleep 0.2
	fi
	tmux -L "$SOCK" -f /dev/null new-session -d -s tui -x "$w" -y "$h" \
		"env HOME='$HOME' XDG_CONFIG_HOME='$XDG_CONFIG_HOME' XDG_DATA_HOME='$XDG_DATA_HOME' DSCODER_DATADIR='$DSCODER_DATADIR' LANG=C.UTF-8 TERM=${TUI_TERM_OVERRIDE:-$TUI_TERM} ${TUI_ENV:-} sh -c \"$cmd\""
	tmux -L "$SOCK" set-option -g set-clipboard on >/dev/null
}

screen() { tmux -L "$SOCK" capture-pane -p -t tui; }

# wait_width COLUMNS: waits until the TUI has laid out its input separator (a line starting with
# "─ ") for the given width. tmux without an attached client may hold back the last of several
# quick resizes from the pane's tty until the pane gets input, so an unbound key (F11) nudges it.
wait_width() {
	n=100
	while [ "$n" -gt 0 ]; do
		w=$(screen | grep '^─ ' | head -n 1 | LC_ALL=C.UTF-8 wc -L)
		[ "$w" = "$1" ] && return 0
		[ $((n % 5)) = 0 ] && tmux -L "$SOCK" send-keys -t tui F11
		sleep 0.1
		n=$((n - 1))
	done
	fail "the screen was not laid out for $1 columns"
}
keys() { tmux -L "$SOCK" send-keys -t tui "$@"; }
# resize COLUMNS ROWS; F11 (unbound) makes tmux pass the new size on to the pane's tty now (see
# wait_width).
resize() {
	tmux -L "$SOCK" resize-window -t tui -x "$1" -y "$2"
	tmux -L "$SOCK" send-keys -t tui F11
}

fail() {
	echo "FAIL: $*"
	echo "--- screen:"
	screen
	echo "--- stderr of dscoder-tui:"
	cat "$T/tui.err" 2>/dev/null
	# Where the programs wait (a stuck one shows its system call here).
	for pid in $(tui_pid 2>/dev/null) $(engine_pid 2>/dev/null); do
		echo "--- process $pid ($(cat /proc/$pid/comm 2>/dev/null)): state $(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null), waiting in $(cat /proc/$pid/wchan 2>/dev/null)"
		for t in /proc/$pid/task/*; do
			echo "    thread ${t##*/}: $(cut -d' ' -f3 $t/stat 2>/dev/null) $(cat $t/wchan 2>/dev/null) syscall $(cut -d' ' -f1 $t/syscall 2>/dev/null)"
		done
	done
	for c in "$CONVDIR"/*.yaml; do
		[ -f "$c" ] || continue
		echo "--- $c (long lines cut):"
		cut -c1-160 "$c" | tail -40
	done
	exit 1
}

# wait_for PATTERN [SECONDS]: polls the screen until grep -E finds PATTERN.
wait_for() {
	n=$(( ${2:-60} * 10 ))
	while [ "$n" -gt 0 ]; do
		screen | grep -Eq -- "$1" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	fail "timed out waiting for /$1/"
}

# wait_gone PATTERN [SECONDS]: polls until PATTERN is no longer on the screen.
wait_gone() {
	n=$(( ${2:-60} * 10 ))
	while [ "$n" -gt 0 ]; do
		screen | grep -Eq -- "$1" || return 0
		sleep 0.1
		n=$((n - 1))
	done
	fail "timed out waiting for /$1/ to go away"
}

# wait_still [SECONDS]: waits until two captures 0.5 s apart are the same (late updates such as the
# context meter's count have arrived), so a comparison that follows compares drawing, not state.
wait_still() {
	n=$(( ${1:-10} * 2 ))
	prev=$(screen)
	while [ "$n" -gt 0 ]; do
		sleep 0.5
		cur=$(screen)
		[ "$cur" = "$prev" ] && return 0
		prev=$cur
		n=$((n - 1))
	done
	fail "the screen kept changing"
}

# wait_cmd SECONDS DESCRIPTION COMMAND...: polls until COMMAND succeeds.
wait_cmd() {
	n=$(( $1 * 10 ))
	what=$2
	shift 2
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	fail "timed out waiting until $what"
}

# wait_answers N: waits until the conversation file holds N finished answers and the engine is idle.
wait_answers() {
	wait_cmd 120 "$1 answers are saved" sh -c "[ \$(grep -c '^    finish:' \"\$(ls '$CONVDIR'/*.yaml | head -n 1)\") -ge $1 ]"
	wait_for ' ready ' 60
}

# Process ids: the TUI (child of the pane's shell) and its engine (child of the TUI).
tui_pid() { pgrep -P "$(tmux -L "$SOCK" display-message -p -t tui '#{pane_pid}')" -x dscoder-tui; }
engine_pid() { pgrep -P "$(tui_pid)" -x dscoder-engine; }

# The one conversation file (fails when there is not exactly one).
conv_file() {
	set -- "$CONVDIR"/*.yaml
	[ $# -eq 1 ] && [ -f "$1" ] || fail "expected one conversation file in $CONVDIR, found: $*"
	echo "$1"
}

# A message long enough that the engine works on it for several seconds (a prefill of about 6000
# tokens on the fixture model), so that keys can be pressed while an answer is running.
long_message() {
	i=0
	while [ $i -lt 150 ]; do
		printf 'the quick brown fox jumps over the lazy dog %d. ' $i
		i=$((i + 1))
	done
}

# A profile whose answers are long and always the same: greedy, with a repetition penalty below 1
# (the fixture model then goes on for thousands of tokens after long_message instead of stopping at a
# random early EOS), so that keys can be pressed while it runs. Start the TUI with --profile long.
mkdir -p "$XDG_CONFIG_HOME/dscoder-tui/profiles"
cat > "$XDG_CONFIG_HOME/dscoder-tui/profiles/long.yaml" <<'YAML'
name: long
description: the tests' long, reproducible answer
mode: chat
system_prompt: |
  You are an expert programming assistant.
sampling:
  temperature: 0
  repetition_penalty: 0.5
  max_tokens: 8000
YAML

# send_long_message: pastes long_message into the input, sends it, and waits until the answer runs
# (start with --profile long so that it runs long enough to be seen).
send_long_message() {
	long_message > "$T/long.txt"
	tmux -L "$SOCK" load-buffer "$T/long.txt"
	tmux -L "$SOCK" paste-buffer -p -t tui
	wait_for 'lazy dog 149\.' 10
	keys Enter
	wait_for ' generating ' 20
}
