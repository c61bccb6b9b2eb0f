#!/bin/sh
# bad-checkpoints.sh: runs the real dscoder-engine (--model DIR --ids IDS --logits OUT) on broken copies
# of the tiny fixture checkpoints and on bad ids files; each must end with exit status 1 (never a
# signal) and exactly one line on stderr that names the file and the tensor or key at fault.

: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}"
FIXTURES=${FIXTURES:-$top_srcdir/tests/fixtures}
models=$FIXTURES/models
engine=$top_builddir/dscoder-engine

if [ ! -d "$models/tiny-ds2-full" ] || [ ! -d "$models/tiny-ds2-lite" ]; then
	echo "bad-checkpoints: no fixtures under $models: skipped"
	exit 77
fi
python=$(command -v python3 || command -v /usr/bin/python3)
if [ -z "$python" ]; then
	echo "bad-checkpoints: python3 is needed to write the broken checkpoints: skipped"
	exit 77
fi
if [ ! -x "$engine" ]; then
	echo "bad-checkpoints: FAIL: $engine is not built"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bad-checkpoints.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

fails=0
count=0

# run_engine DIR IDS: runs the engine, leaving the status in $status and stderr in $tmp/stderr.
run_engine() {
	rm -f "$tmp/out.f32"
	if command -v timeout >/dev/null 2>&1; then
		timeout 120 "$engine" --model "$1" --ids "$2" --logits "$tmp/out.f32" \
			>"$tmp/stdout" 2>"$tmp/stderr" </dev/null
	else
		"$engine" --model "$1" --ids "$2" --logits "$tmp/out.f32" \
			>"$tmp/stdout" 2>"$tmp/stderr" </dev/null
	fi
	status=$?
}

# expect_error NAME DIR IDS NEEDLE...: exit 1, one stderr line, every needle in it.
expect_error() {
	name=$1 dir=$2 ids=$3
	shift 3
	count=$((count + 1))
	run_engine "$dir" "$ids"
	lines=$(awk 'END { print NR }' "$tmp/stderr")
	msg=$(head -n 1 "$tmp/stderr")
	why=
	if [ "$status" -gt 128 ]; then
		why="killed by signal $((status - 128)) (exit status $status)"
	elif [ "$status" -eq 124 ]; then
		why="timed out"
	elif [ "$status" -ne 1 ]; then
		why="exit status $status, want 1"
	elif [ "$lines" -ne 1 ]; then
		why="$lines lines on stderr, want exactly 1"
	else
		for needle in "$@"; do
			case $msg in
			*"$needle"*) ;;
			*) why="the message does not mention '$needle'"; break ;;
			esac
		done
	fi
	if [ -n "$why" ]; then
		echo "FAIL $name: $why"
		sed 's/^/    stderr: /' "$tmp/stderr" | head -n 20
		fails=$((fails + 1))
	else
		echo "ok   $name: $msg"
	fi
}

good_ids=$tmp/good.ids
printf '5 10 7\n' >"$good_ids"

# Control: the intact checkpoint works with these ids, so the failures below come from the damage.
count=$((count + 1))
run_engine "$models/tiny-ds2-full" "$good_ids"
bytes=$(wc -c <"$tmp/out.f32" 2>/dev/null || echo 0)
if [ "$status" -ne 0 ] || [ "$bytes" -ne $((3 * 320 * 4)) ]; then
	echo "FAIL control (intact tiny-ds2-full): exit status $status, $bytes bytes of logits, want 0 and 3840"
	sed 's/^/    stderr: /' "$tmp/stderr" | head -n 20
	fails=$((fails + 1))
else
	echo "ok   control: intact tiny-ds2-full gives 3 x 320 logits"
fi

expect_error missing-directory "$tmp/no-such-checkpoint" "$good_ids" "no-such-checkpoint"

if ! "$python" "$top_srcdir/tests/make-bad-checkpoints.py" "$models" "$tmp/cases" >"$tmp/cases.txt"; then
	echo "FAIL: tests/make-bad-checkpoints.py could not write the broken checkpoints"
	exit 1
fi
tab=$(printf '\t')
while IFS= read -r line; do
	old_ifs=$IFS
	IFS=$tab
	set -f   # needles such as "[64, 64]" are text, not patterns
	# shellcheck disable=SC2086
	set -- $line
	set +f
	IFS=$old_ifs
	name=$1
	shift
	expect_error "$name" "$tmp/cases/$name" "$good_ids" "$@"
done <"$tmp/cases.txt"

# Bad ids files against the intact checkpoint (vocab_size 320): the message names the file and value.
printf '5 320 7\n' >"$tmp/too-big.ids"
expect_error ids-past-vocab "$models/tiny-ds2-full" "$tmp/too-big.ids" "too-big.ids" "320"
printf '5 -1 7\n' >"$tmp/negative.ids"
expect_error ids-negative "$models/tiny-ds2-full" "$tmp/negative.ids" "negative.ids" "-1"
printf '5 seven 7\n' >"$tmp/word.ids"
expect_error ids-not-a-number "$models/tiny-ds2-full" "$tmp/word.ids" "word.ids" "seven"
expect_error ids-missing-file "$models/tiny-ds2-full" "$tmp/absent.ids" "absent.ids"

if [ "$fails" -ne 0 ]; then
	echo "bad-checkpoints: $fails of $count cases failed"
	exit 1
fi
echo "bad-checkpoints: all $count cases passed"
exit 0
