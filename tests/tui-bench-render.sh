#!/bin/sh
# tui-bench-render.sh: measures the TUI's render time per streamed token on a conversation of about
# 10,000 display rows (not part of make check: it prints numbers and asserts nothing).
# Usage: top_srcdir=SRC top_builddir=BUILD FIXTURES=SRC/tests/fixtures sh tests/tui-bench-render.sh [TOKENS]
. "$top_srcdir/tests/tui-lib.sh"

tokens=${1:-2000}
# 257 turns: a question with CJK text, an answer with a heading, emphasis, a list, a 20-line C
# block, a quote and a long paragraph: about 10,800 rows at 100 columns.
awk 'BEGIN {
	print "version: 1\ntitle: bench\ncreated: 2026-01-01T00:00:00Z\nupdated: 2026-01-01T00:00:00Z\nmode: chat\nmessages:"
	for (i = 0; i < 257; i++) {
		printf "- role: user\n  time: 2026-01-01T00:00:00Z\n  content: |-\n    How do I write function %d in C? 中文问题 %d\n", i, i
		printf "- role: assistant\n  time: 2026-01-01T00:00:01Z\n  content: |-\n"
		printf "    ## Answer %d\n\n    Here is **bold** and *italic* text with `inline code`, and a list:\n\n", i
		printf "    - item one\n    - item two 世界\n\n    ```c\n"
		for (k = 0; k < 20; k++)
			printf "    int f%d_%d(int x) { return x * %d; /* comment */ }\n", i, k, k
		printf "    ```\n\n    > a quote line\n\n    Some more prose"
		for (k = 0; k < 40; k++)
			printf " %s", (k % 5 == 4) ? "测试" : "alpha"
		printf "\n"
	}
}' > "$T/bench.yaml"
cmd="'$TUI' --load '$T/bench.yaml' --bench-render $tokens 2>'$T/bench.out'; echo BENCH-DONE; sleep 600"
tmux -L "$SOCK" -f /dev/null new-session -d -s tui -x 100 -y 30 \
	"env HOME='$HOME' XDG_CONFIG_HOME='$XDG_CONFIG_HOME' XDG_DATA_HOME='$XDG_DATA_HOME' DSCODER_DATADIR='$DSCODER_DATADIR' LANG=C.UTF-8 TERM=$TUI_TERM sh -c \"$cmd\""
wait_for 'BENCH-DONE' 300
cat "$T/bench.out"
