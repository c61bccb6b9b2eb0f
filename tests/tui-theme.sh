#!/bin/sh
# tui-theme.sh: colours as terminals allow: NO_COLOR gives no colour at all (attributes only), an
# 8-colour terminal gets only the 8 basic colours, a 256-colour one the theme's 256-colour values;
# F9 switches the theme and --theme picks one.
. "$top_srcdir/tests/tui-lib.sh"

# The SGR sequences on the screen, one per word ("0;1;7", "38;5;110"), and what they set:
# colours() lists them; basic() says whether one sets an 8/16-colour foreground or background,
# extended() whether one is a 256-colour (38;5;N, 48;5;N) one; 39 and 49 (the default colours) are
# not colours.
colours() { tmux -L "$SOCK" capture-pane -e -p -t tui | grep -o "$(printf '\033')\[[0-9;]*m" | tr -d '\033[m' | sort -u | tr '\n' ' '; }
basic() { echo "$1" | tr ' ;' '\n\n' | grep -Eqx '3[0-7]|4[0-7]|9[0-7]|10[0-7]'; }
extended() { echo "$1" | grep -Eq '(^|[ ;])[34]8;5;'; }

TUI_ENV="NO_COLOR=1"
tui_start 80 24
TUI_ENV=
wait_for ' ready ' 60
c=$(colours)
{ basic "$c" || extended "$c"; } && fail "NO_COLOR: colour sequences on screen: $c"
echo " $c" | grep -Eq '[ ;]7( |;|$)' || fail "NO_COLOR: the status bar is not in reverse video: $c"
keys C-q
wait_for 'TUI-EXIT=0' 20

TUI_TERM_OVERRIDE=xterm
tui_start 80 24
TUI_TERM_OVERRIDE=
wait_for ' ready ' 60
c=$(colours)
extended "$c" && fail "8 colours: 256-colour sequences on screen: $c"
basic "$c" || fail "8 colours: no basic colours on screen: $c"
keys C-q
wait_for 'TUI-EXIT=0' 20

tui_start 80 24 --theme gruvbox
wait_for ' ready ' 60
g=$(colours)
extended "$g" || fail "256 colours: no 256-colour sequences with gruvbox: $g"
keys F9
wait_for 'theme' 10
sleep 0.3
[ "$(colours)" != "$g" ] || fail "F9 did not change the colours"
keys C-q
wait_for 'TUI-EXIT=0' 20
exit 0
