#!/bin/sh
# tui-meter.sh: the context meter shows the current request: in completion and fill-in-the-middle
# mode its prompt plus its answer (the figures the engine reports), not the chat prompt's count;
# while an answer is generated it grows with it.
. "$top_srcdir/tests/tui-lib.sh"

cat > "$XDG_CONFIG_HOME/dscoder-tui/profiles/comp.yaml" <<'YAML'
description: completion, short and reproducible
mode: completion
sampling:
  temperature: 0
  max_tokens: 20
YAML
# meter: the number the context meter shows ("123" of "ctx ██░░ 123/163k"), or nothing.
meter() { screen | sed -n 's/.*ctx [^ ]* \([0-9.k?]*\)\/.*/\1/p' | tail -n 1; }
meter_is() { [ "$(meter)" = "$1" ]; }
# stats_total N: prompt_tokens + completion_tokens of the N-th answer in the conversation file.
stats_total() {
	awk -v n="$1" '/^    prompt_tokens:/ { k++; p = $2 } /^    completion_tokens:/ && k == n { print p + $2; exit }' "$(conv_file)"
}

tui_start 100 30 --profile comp
wait_for ' ready ' 60
keys 'def add(a, b):' Enter
wait_answers 1
want=$(stats_total 1)
[ -n "$want" ] && [ "$want" -gt 0 ] || fail "no stats for the completion"
wait_cmd 10 "the meter shows the completion's $want tokens" meter_is "$want"

# Fill in the middle: the meter shows that request, not the chat count or the completion's.
keys F6
wait_for 'Prefix \(code before the hole\)' 10
keys C-u 'def mul(a, b):' C-j '    '
keys Tab
wait_for 'Suffix \(code after the hole\)' 10
keys '    return c' C-j
keys Enter
wait_answers 2
want=$(stats_total 2)
[ -n "$want" ] && [ "$want" -gt 0 ] || fail "no stats for the fill-in-the-middle answer"
wait_cmd 10 "the meter shows the fill-in-the-middle request's $want tokens" meter_is "$want"
keys C-q
wait_for 'TUI-EXIT=0' 30

# While an answer runs the meter grows with it.
tui_start 100 30 --profile long
wait_for ' ready ' 60
send_long_message
seen=
n=600
while [ $n -gt 0 ]; do
	s=$(screen)
	if echo "$s" | grep -q ' generating [0-9]'; then
		v=$(echo "$s" | sed -n 's/.*ctx [^ ]* \([0-9.k]*\)\/.*/\1/p' | tail -n 1)
		case " $seen " in *" $v "*) ;; *) [ -n "$v" ] && seen="$seen $v" ;; esac
		[ $(echo $seen | wc -w) -ge 3 ] && break
	elif echo "$s" | grep -q ' ready '; then
		fail "the answer ended and the meter showed only:$seen"
	fi
	sleep 0.1
	n=$((n - 1))
done
[ $(echo $seen | wc -w) -ge 3 ] || fail "the meter did not move while generating:$seen"
keys Escape
wait_for ' ready ' 60
keys C-q
wait_for 'TUI-EXIT=0' 30
