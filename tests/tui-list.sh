#!/bin/sh
# tui-list.sh: the conversation list: saved conversations newest first, a corrupted file listed with
# its error and left untouched, search by text narrowing the list as you type, open, rename, delete
# (after a yes).
. "$top_srcdir/tests/tui-lib.sh"

mkdir -p "$CONVDIR"
mkconv() {   # mkconv FILE TITLE UPDATED TEXT
	cat > "$CONVDIR/$1.yaml" <<YAML
version: 1
title: $2
created: $3
updated: $3
mode: chat
messages:
- role: user
  time: $3
  content: |-
    $4
YAML
}
mkconv 20260101-000000-aaaaaa 'Apple pie recipe' 2026-01-01T00:00:00Z 'how do I bake an apple pie'
mkconv 20260102-000000-bbbbbb 'Banana bread' 2026-01-02T00:00:00Z 'what about banana bread with walnuts'
printf 'version: 1\ntitle: [unclosed\n' > "$CONVDIR/20260103-000000-cccccc.yaml"
cp "$CONVDIR/20260103-000000-cccccc.yaml" "$T/corrupt.orig"

tui_start 100 30
wait_for ' ready ' 60
keys F2
wait_for 'Conversations \(3\)' 10
wait_for 'Banana bread' 10
# Newest first: Banana (Jan 2) above Apple (Jan 1).
screen | awk '/Banana bread/ { b = NR } /Apple pie recipe/ { a = NR } END { exit !(b && a && b < a) }' ||
	fail "the list is not newest first"
wait_for '⚠' 10

# Search narrows as you type: "walnut" is only in the text of Banana bread.
keys /
wait_for 'Search conversations' 10
keys walnut
wait_for 'Conversations \(1\)' 10
screen | grep -q 'Apple pie' && fail "search kept a conversation that does not match"
keys Enter
wait_for '/ walnut' 10
keys Enter
wait_for '│  what about banana bread with walnuts' 10

# Rename the selected conversation (the list keeps the focus after F2).
keys F2
keys F2
wait_for 'Conversations' 10
keys r
wait_for 'Rename the conversation' 10
keys C-u 'Banana loaf' Enter
wait_cmd 10 "the new title is saved" grep -q 'title: Banana loaf' "$CONVDIR/20260102-000000-bbbbbb.yaml"
wait_for 'Banana loaf' 10

# Delete Apple pie (found by a search) after answering n, then y.
keys /
wait_for 'Search conversations' 10
keys C-u apple Enter
wait_for 'Conversations \(1\)' 10
wait_for 'Apple pie recipe' 10
keys d
wait_for 'Delete conversation\?' 10
keys n
wait_gone 'Delete conversation\?' 10
n=$(ls "$CONVDIR" | wc -l)
[ "$n" = 3 ] || fail "$n files after answering n to delete"
# Enter is the safe answer: no.
keys d
wait_for 'Delete conversation\?' 10
wait_for 'Enter: no' 10
keys Enter
wait_gone 'Delete conversation\?' 10
n=$(ls "$CONVDIR" | wc -l)
[ "$n" = 3 ] || fail "$n files after answering Enter to delete"
keys d
wait_for 'Delete conversation\?' 10
keys y
wait_for 'Conversations \(0\)' 10
[ -f "$CONVDIR/20260101-000000-aaaaaa.yaml" ] && fail "Apple pie was not deleted"
keys /
wait_for 'Search conversations' 10
keys Escape
wait_for 'Conversations \(2\)' 10
cmp -s "$T/corrupt.orig" "$CONVDIR/20260103-000000-cccccc.yaml" || fail "the corrupted file was changed"
[ "$(ls "$CONVDIR" | wc -l)" = 2 ] || fail "delete did not remove one file"
keys C-q
wait_for 'TUI-EXIT=0' 30
cmp -s "$T/corrupt.orig" "$CONVDIR/20260103-000000-cccccc.yaml" || fail "the corrupted file was changed"

# Two conversations of one day whose titles differ only at the end: the list shows the whole titles
# when they fit, else their start and their end, and the times; F2 starts on the open conversation
# (the older one), not on the newest.
mkconv 20260105-101500-dddddd 'Refactor the parser of alpha' 2026-01-05T10:15:00Z 'alpha text'
mkconv 20260105-164000-eeeeee 'Refactor the parser of omega' 2026-01-05T16:40:00Z 'omega text'
long='Refactor the configuration file parser module of the project'
mkconv 20260106-101500-ffffff "$long alpha" 2026-01-06T10:15:00Z 'long alpha text'
mkconv 20260106-164000-gggggg "$long omega" 2026-01-06T16:40:00Z 'long omega text'
TUI_ENV=TZ=UTC tui_start 120 30 --load "$CONVDIR/20260105-101500-dddddd.yaml"
wait_for 'alpha text' 30
keys F2
wait_for 'Conversations \(6\)' 10
wait_for 'Refactor the parser of alpha .*01-05 10:15' 10
wait_for 'Refactor the parser of omega .*01-05 16:40' 10
wait_for 'Refactor the .*….*project alpha .*01-06 10:15' 10
wait_for 'Refactor the .*….*project omega .*01-06 16:40' 10
keys Enter
wait_for 'opened "Refactor the parser of alpha"' 10
keys C-q
wait_for 'TUI-EXIT=0' 30
