#!/bin/sh
# tui-blocks.sh: numbered, highlighted code blocks: copy block n to the clipboard with OSC 52 (tmux
# takes it into its paste buffer), save block n to a file (asks the path, never overwrites without
# asking), a conversation loaded with --load.
. "$top_srcdir/tests/tui-lib.sh"

cat > "$T/conv.yaml" <<'YAML'
version: 1
title: blocks
created: 2026-01-01T00:00:00Z
updated: 2026-01-01T00:00:00Z
mode: chat
messages:
- role: user
  time: 2026-01-01T00:00:00Z
  content: |-
    Show me C and Python.
- role: assistant
  time: 2026-01-01T00:00:01Z
  content: |-
    Here:

    ```c
    int main(void) { return 0; }
    ```

    and

    ```python
    print("hi")  # 世界
    ```
YAML
tui_start 100 30 --load "$T/conv.yaml"
wait_for '\[2\] python' 30
wait_for '\[1\] c' 10
keys M-1
wait_for 'copied block \[1\]' 10
got=$(tmux -L "$SOCK" show-buffer 2>/dev/null)
[ "$got" = 'int main(void) { return 0; }' ] || fail "clipboard holds '$got'"
keys M-w
wait_for 'code block number' 10
keys C-u 2 Enter
wait_for 'Save code block \[2\]' 10
keys C-u "$T/hi.py" Enter
wait_for 'saved block \[2\]' 10
printf 'print("hi")  # 世界\n' | cmp -s - "$T/hi.py" || fail "saved block differs: $(cat "$T/hi.py")"
echo 'keep me' > "$T/hi.py"
keys M-w
wait_for 'code block number' 10
keys C-u 2 Enter
wait_for 'Save code block' 10
keys C-u "$T/hi.py" Enter
wait_for 'Overwrite\?' 10
keys n
wait_for 'not saved' 10
[ "$(cat "$T/hi.py")" = 'keep me' ] || fail "a file was overwritten after 'n'"
keys M-w
wait_for 'code block number' 10
keys C-u 2 Enter
wait_for 'Save code block' 10
keys C-u "$T/hi.py" Enter
wait_for 'Overwrite\?' 10
keys y
wait_for 'saved block \[2\]' 10
grep -q 'print' "$T/hi.py" || fail "y did not overwrite"
# Enter is the safe answer: no.
echo 'keep me' > "$T/hi.py"
keys M-w
wait_for 'code block number' 10
keys C-u 2 Enter
wait_for 'Save code block' 10
keys C-u "$T/hi.py" Enter
wait_for 'Overwrite\?' 10
wait_for 'Enter: no' 10
keys Enter
wait_for 'not saved' 10
[ "$(cat "$T/hi.py")" = 'keep me' ] || fail "Enter at the overwrite question overwrote the file"
keys C-q
wait_for 'TUI-EXIT=0' 30

# tmux with set-clipboard external (its default) drops OSC 52: the TUI says so and how to fix it;
# a clipboard program is used when there is one and a display. PATH holds only tmux and, later, a
# stand-in xclip (and what the test's shell needs), so that programs installed here do not change
# the outcome.
mkdir -p "$T/bin"
for p in tmux sh sleep; do
	ln -s "$(command -v $p)" "$T/bin/$p"
done
TUI_ENV="DISPLAY=:99 WAYLAND_DISPLAY= PATH=$T/bin" tui_start 100 30 --load "$T/conv.yaml"
tmux -L "$SOCK" set-option -g set-clipboard external
tmux -L "$SOCK" set-buffer 'before'
wait_for '\[1\] c' 30
keys M-1
wait_for 'Not copied: block \[1\]' 10
wait_for 'set -g set-clipboard on' 10
screen | grep -q 'copied block' && fail "the TUI claims the block was copied"
keys Escape
wait_gone 'Not copied' 10
printf '#!/bin/sh\n/bin/cat > "%s/xclip.out"\n' "$T" > "$T/bin/xclip"
chmod +x "$T/bin/xclip"
keys M-1
wait_for 'copied block \[1\] .* with xclip' 10
[ "$(cat "$T/xclip.out")" = 'int main(void) { return 0; }' ] || fail "xclip got '$(cat "$T/xclip.out")'"
# With set-clipboard on, OSC 52 reaches tmux's buffer.
tmux -L "$SOCK" set-option -g set-clipboard on
keys M-1
wait_for 'copied block \[1\] .* through tmux' 10
got=$(tmux -L "$SOCK" show-buffer 2>/dev/null)
[ "$got" = 'int main(void) { return 0; }' ] || fail "clipboard holds '$got'"
keys C-q
wait_for 'TUI-EXIT=0' 30
