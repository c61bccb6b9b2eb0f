#!/bin/sh
# tui-no-model.sh: a model the engine cannot load (--model /nonexistent): the TUI says the engine
# could not start, with the engine's own sentence, and does not take messages it cannot answer
# (nor claim they will be); F12 tries again and fails the same way; the TUI quits cleanly.
. "$top_srcdir/tests/tui-lib.sh"

MODEL=$T/no-such-model
tui_start 100 30
wait_for 'The engine could not start' 60
wait_for 'no-such-model' 10
wait_for 'Nothing can be sent until the engine starts.*F12 tries again' 10
screen | grep -q 'Your conversation is saved' && fail "the screen claims the conversation is saved"
screen | grep -q 'Enter to send' && fail "the screen says Enter restarts the engine"
keys 'hello there' Enter
wait_for 'not sent' 10
wait_for '^❯ hello there' 10
screen | grep -q '^▌ You' && fail "the message was taken into the conversation"
ls "$CONVDIR"/*.yaml >/dev/null 2>&1 && fail "a conversation was saved: $(ls "$CONVDIR")"
keys F12
wait_for 'The engine could not start' 60
keys C-q
wait_for 'TUI-EXIT=0' 30
