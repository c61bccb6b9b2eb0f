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
keys C-q
wait_for 'TUI-EXIT=0' 30
