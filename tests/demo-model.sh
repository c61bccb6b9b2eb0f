#!/bin/sh
# tests/demo-model.sh: the engine must compute what the PyTorch reference computes on the bundled demo model.
# For every prompt in models/dscoder-demo/golden/ (saved by tools/train_demo.py from tools/ds2_model.py,
# float32 math on the stored BF16 weights): the C tokenizer must give the prompt's ids, and
# `dscoder-engine --ids --greedy N` must give the same N greedy ids. Then the README's own prompts must
# answer with code, with and without --model (the demo model is the default), and so must the later
# questions of a conversation (tests/demo_followup.py, through the pipe service).

engine=$top_builddir/dscoder-engine
model=$top_srcdir/models/dscoder-demo
fail=0

if [ ! -x "$engine" ]; then
	echo "demo-model: $engine is not built"
	exit 1
fi
if [ ! -f "$model/model.safetensors" ]; then
	echo "demo-model: $model/model.safetensors is missing"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/demo-model.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

norm() {
	tr -s ' \t\n' '   ' | sed 's/^ *//; s/ *$//'
}

n_prompts=0
for p in "$model"/golden/*.prompt.ids; do
	base=${p%.prompt.ids}
	name=$(basename "$base")
	n_prompts=$((n_prompts + 1))
	want=$(norm < "$base.greedy.ids")
	n=$(echo "$want" | wc -w)

	# Tokenizer: the chat template's text after BOS, tokenized by the engine, must be the prompt minus BOS.
	text=$(cat "$base.txt")
	want_tok=$(norm < "$p" | cut -d' ' -f2-)
	got_tok=$(printf 'User: %s\n\nAssistant:' "$text" | "$engine" --model "$model" --tokenize 2>"$tmp/err" | norm)
	if [ "$got_tok" != "$want_tok" ]; then
		echo "FAIL $name tokenize '$text':"
		echo "  want: $want_tok"
		echo "  got:  $got_tok"
		sed 's/^/  stderr: /' "$tmp/err"
		fail=1
	fi

	got=$("$engine" --model "$model" --ids "$p" --greedy "$n" 2>"$tmp/err" | norm)
	if [ "$got" != "$want" ]; then
		echo "FAIL $name greedy $n ids after '$text':"
		echo "  want: $want"
		echo "  got:  $got"
		sed 's/^/  stderr: /' "$tmp/err"
		fail=1
	else
		echo "ok   $name: $n greedy ids match ($text)"
	fi
done
if [ "$n_prompts" -lt 20 ]; then
	echo "FAIL only $n_prompts golden prompts in $model/golden (want at least 20)"
	fail=1
fi

# The README's prompts: answers must be code in the asked-for language.
check_answer() {
	label=$1 prompt=$2 pattern=$3
	shift 3
	if ! "$@" --generate "$prompt" --max-tokens 300 > "$tmp/out" 2>"$tmp/err"; then
		echo "FAIL $label: dscoder-engine --generate '$prompt' exited non-zero"
		sed 's/^/  stderr: /' "$tmp/err"
		fail=1
	elif ! grep -q -e "$pattern" "$tmp/out"; then
		echo "FAIL $label: the answer to '$prompt' does not contain '$pattern':"
		sed 's/^/  | /' "$tmp/out"
		fail=1
	else
		echo "ok   $label: '$prompt' answers with '$pattern'"
	fi
}
check_answer python "write a quick sort algorithm in python." "def quick_sort" "$engine" --model "$model"
check_answer c++ "Write a piece of quicksort code in C++." "#include <" "$engine" --model "$model"
check_answer who "Who are you?" "demo model" "$engine" --model "$model"

# The TUI sends its default profile's system prompt (profiles/coder.yaml, a YAML block literal: the text
# indented by two spaces, ending in a newline); the demo model must still answer with code under it.
coder=$top_srcdir/profiles/coder.yaml
if [ -f "$coder" ]; then
	sysprompt=$(sed -n '/^system_prompt: *|/,/^[^ ]/{/^  /s/^  //p}' "$coder")
	if [ -z "$sysprompt" ]; then
		echo "FAIL could not read system_prompt from $coder"
		fail=1
	else
		check_answer python+coder "write a quick sort algorithm in python." "def quick_sort" \
			"$engine" --model "$model" --system "$sysprompt
"
		check_answer who+coder "Who are you?" "demo model" "$engine" --model "$model" --system "$sysprompt
"
	fi
fi

# Without --model (and without $DSCODER_MODEL) the engine must find the demo model by itself: installed
# under $(pkgdatadir), or in the source tree before installation. Run from an unrelated directory with an
# empty configuration.
mkdir "$tmp/cwd" "$tmp/config"
(
	cd "$tmp/cwd" || exit 1
	unset DSCODER_MODEL
	DSCODER_DATADIR=$top_srcdir XDG_CONFIG_HOME=$tmp/config HOME=$tmp/cwd \
		"$engine" --generate "write a quick sort algorithm in python." --max-tokens 300
) > "$tmp/out" 2>"$tmp/err"
if grep -q "def quick_sort" "$tmp/out"; then
	echo "ok   default model: --generate without --model answers with Python code"
else
	echo "FAIL default model: dscoder-engine --generate without --model (DSCODER_DATADIR=$top_srcdir) gave:"
	sed 's/^/  | /' "$tmp/out"
	sed 's/^/  stderr: /' "$tmp/err"
	fail=1
fi

# A conversation, as the TUI holds one: the second and later questions get their answers too.
if command -v python3 >/dev/null 2>&1; then
	python3 "$top_srcdir/tests/demo_followup.py" "$engine" "$model" "$top_srcdir/profiles/coder.yaml" || fail=1
else
	echo "note: python3 not found: the conversation check is skipped"
fi

exit $fail
