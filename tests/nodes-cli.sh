#!/bin/sh
# nodes-cli.sh: dscoder-engine --nodes N: rank 0 and N-1 follower processes on this machine, joined over
# TCP on 127.0.0.1: --logits bit for bit those of --simulate-ranks N and within 1e-4 of one rank;
# --greedy 24, a seeded --generate and a pipe-service answer the same as --simulate-ranks N. A follower
# killed mid-run, a rank 0 that never comes and mismatched --nodes end with a sentence; bad options are
# refused. Rank 0 runs under timeout and followers end with it (or at their rendezvous deadline), so
# nothing hangs; whatever is left in the background is killed on exit.
. "$top_srcdir/tests/cli-lib.sh"
[ -d "$models" ] || { echo "SKIP: no fixtures at $models"; exit 77; }
command -v timeout > /dev/null 2>&1 || { echo "SKIP: no timeout(1)"; exit 77; }

pids=""
trap 'for p in $pids; do kill -9 $p 2> /dev/null; done; rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
# far above what any run of the tiny fixtures takes: a hang fails the test instead of blocking it
T=120
# below the usual ephemeral range (32768-60999), where the kernel picks the source ports of connections
port=$((20000 + $$ % 10000))

feed_nothing() { :; }
feed_request() { cat "$tmp/request"; }
feed=feed_nothing

# start MODEL N ARGS...: followers 1..N-1 of MODEL, then rank 0 with ARGS (stdin from $feed, stdout in
# $tmp/out, stderr in $tmp/rank0.err), all in the background on a fresh port (the next one when the
# port is taken); returns once all nodes joined or rank 0 has ended. Sets $rank0 and $followers.
start() {
	dir=$1; n=$2; shift 2
	for try in 1 2 3 4 5; do
		port=$((port + 1))
		followers=""
		r=1
		while [ $r -lt $n ]; do
			"$engine" --model "$dir" --nodes $n --node-rank $r --rendezvous 127.0.0.1:$port \
				--rendezvous-timeout 60 --threads 1 > "$tmp/follower$r.out" 2> "$tmp/follower$r.err" &
			followers="$followers $!"
			r=$((r + 1))
		done
		: > "$tmp/rank0.err"        # not the last run's "joined" (the background one opens it late)
		$feed | timeout $T "$engine" --model "$dir" --nodes $n --node-rank 0 --rendezvous 127.0.0.1:$port \
			--rendezvous-timeout 60 --threads 2 "$@" > "$tmp/out" 2> "$tmp/rank0.err" &
		rank0=$!
		pids="$pids $followers $rank0"
		i=0
		while [ $i -lt 1200 ] && ! grep -q "joined" "$tmp/rank0.err" && kill -0 $rank0 2> /dev/null; do
			sleep 0.1
			i=$((i + 1))
		done
		grep -q "in use" "$tmp/rank0.err" || return 0
		for p in $followers; do kill -9 $p 2> /dev/null; done
		wait $rank0 $followers 2> /dev/null
	done
}

# finish: waits for rank 0 and the followers; rank 0's status, or 1 when a follower failed or printed
# something on stdout
finish() {
	wait $rank0
	st=$?
	for p in $followers; do wait $p || st=1; done
	r=1
	for p in $followers; do
		[ -s "$tmp/follower$r.out" ] && st=1
		r=$((r + 1))
	done
	return $st
}

# nodes MODEL N ARGS...: one whole run; rank 0's stdout in $tmp/out
nodes() {
	start "$@"
	finish || { echo "  rank 0: $(cat "$tmp/rank0.err")"; cat "$tmp"/follower*.err; return 1; }
}

# the parts of the pipe service's answer that do not depend on timing
answer() { grep -o '"event":"token".*\|"finish":"[a-z]*","prompt_tokens":[0-9]*,"completion_tokens":[0-9]*' "$1"; }

printf '%s\n' '{"op":"generate","id":5,"prompt":"def fib(n):","max_tokens":16,"temperature":0.8,"seed":7}' \
	> "$tmp/request"

for run in tiny-ds2-full:2 tiny-ds2-lite:2 tiny-ds2-group:2 tiny-ds2-group:3; do
	m=${run%:*}
	n=${run#*:}
	dir="$models/$m"
	ids="$dir/golden/prompt.ids"
	"$engine" --model "$dir" --ids "$ids" --logits "$tmp/one.f32" --threads 2 || bad "$m: unsharded --logits failed"
	"$engine" --model "$dir" --ids "$ids" --logits "$tmp/sim.f32" --simulate-ranks $n --threads 2 ||
		bad "$m: --simulate-ranks $n --logits failed"
	one=$("$engine" --model "$dir" --ids "$ids" --greedy 24 --threads 2)
	gen=$("$engine" --model "$dir" --generate "def fib(n):" --max-tokens 12 --temperature 0.8 --seed 7 \
		--simulate-ranks $n --threads 2)
	[ -n "$one" ] && [ -n "$gen" ] || bad "$m: the --greedy or --simulate-ranks --generate reference is empty"

	if nodes "$dir" $n --ids "$ids" --logits "$tmp/net.f32" && cmp -s "$tmp/net.f32" "$tmp/sim.f32"; then
		ok "$m: --nodes $n --logits equal --simulate-ranks $n bit for bit"
	else
		bad "$m: --nodes $n --logits differ from --simulate-ranks $n (or the run failed)"
	fi
	"$maxdiff" "$tmp/net.f32" "$tmp/one.f32" 1e-4 && ok "$m: --nodes $n --logits within 1e-4 of one rank" \
		|| bad "$m: --nodes $n --logits are not within 1e-4 of one rank"
	nodes "$dir" $n --ids "$ids" --greedy 24 || bad "$m: --nodes $n --greedy 24 failed"
	got=$(cat "$tmp/out")
	[ "$got" = "$one" ] && ok "$m: --nodes $n --greedy 24 equals one rank" \
		|| bad "$m: --nodes $n --greedy 24: got '$got', want '$one'"
	nodes "$dir" $n --generate "def fib(n):" --max-tokens 12 --temperature 0.8 --seed 7 ||
		bad "$m: --nodes $n --generate failed"
	got=$(cat "$tmp/out")
	[ "$got" = "$gen" ] && ok "$m: --nodes $n --generate equals --simulate-ranks $n" \
		|| bad "$m: --nodes $n --generate: got '$got', want '$gen'"

	# the pipe service on rank 0: the same seeded answer as the service on --simulate-ranks
	"$engine" --model "$dir" --simulate-ranks $n --threads 2 --ctx 256 < "$tmp/request" > "$tmp/sim.out" ||
		bad "$m: the pipe service on --simulate-ranks $n failed"
	feed=feed_request
	nodes "$dir" $n --ctx 256 || bad "$m: the pipe service on --nodes $n failed"
	feed=feed_nothing
	grep -q "\"backend\":\"cpu, $n nodes over TCP\"" "$tmp/out" || bad "$m: ready does not say '$n nodes over TCP'"
	if [ -n "$(answer "$tmp/sim.out")" ] && [ "$(answer "$tmp/out")" = "$(answer "$tmp/sim.out")" ]; then
		ok "$m: the pipe service on --nodes $n answers as on --simulate-ranks $n"
	else
		bad "$m: the pipe service on --nodes $n answered '$(answer "$tmp/out")', --simulate-ranks '$(answer "$tmp/sim.out")'"
	fi
done

dir="$models/tiny-ds2-full"
seq 1 10 > "$tmp/ten.ids"

# a follower killed in the middle of a long --greedy run: rank 0 names it and exits 1 (not at timeout)
start "$dir" 3 --ids "$tmp/ten.ids" --greedy 20000 --ctx 20020
kill -9 ${followers##* }        # node 2
wait ${followers##* } 2> /dev/null
wait $rank0
st=$?
if [ $st -eq 1 ] && grep -q "node 2 disconnected during a forward pass" "$tmp/rank0.err"; then
	ok "a killed follower ends rank 0: $(tail -1 "$tmp/rank0.err")"
else
	bad "a killed follower: rank 0 status $st (124: it hung), said '$(cat "$tmp/rank0.err")'"
	cat "$tmp"/follower*.err
fi
wait $followers 2> /dev/null

# the same in the pipe service: the request comes after the kill, and gets an error event
feed_after_kill() {
	i=0
	while [ ! -e "$tmp/killed" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
	cat "$tmp/request"
}
feed=feed_after_kill
start "$dir" 2 --ctx 256
feed=feed_nothing
kill -9 $followers
wait $followers 2> /dev/null
touch "$tmp/killed"
wait $rank0
st=$?
if [ $st -eq 1 ] && grep -q '"event":"error","message":"node 1 disconnected during a forward pass"' "$tmp/out"; then
	ok "a killed follower ends the pipe service with an error event"
else
	bad "a killed follower under the pipe service: status $st, last event '$(tail -1 "$tmp/out")'"
fi

# a follower whose rank 0 never comes gives up at its deadline with a sentence
port=$((port + 1))
if timeout $T "$engine" --model "$dir" --nodes 2 --node-rank 1 --rendezvous 127.0.0.1:$port \
	--rendezvous-timeout 1 > "$tmp/out" 2> "$tmp/err"; then
	bad "a follower without rank 0 succeeded"
else
	st=$?
	[ $st -eq 1 ] && grep -q "rank 0" "$tmp/err" && [ ! -s "$tmp/out" ] && ok "no rank 0: $(cat "$tmp/err")" \
		|| bad "no rank 0: status $st, '$(cat "$tmp/err")'"
fi

# a follower started with another --nodes: both sides refuse with the same sentence
port=$((port + 1))
"$engine" --model "$dir" --nodes 3 --node-rank 1 --rendezvous 127.0.0.1:$port --rendezvous-timeout 60 \
	2> "$tmp/follower.err" &
f=$!
pids="$pids $f"
if timeout $T "$engine" --model "$dir" --nodes 2 --node-rank 0 --rendezvous 127.0.0.1:$port --rendezvous-timeout 60 \
	--ids "$tmp/ten.ids" --greedy 2 > /dev/null 2> "$tmp/err"; then
	bad "rank 0 ran with a follower started with --nodes 3"
elif grep -q "in use" "$tmp/err"; then
	echo "port $port taken: the --nodes mismatch was not tried"
else
	grep -q "node 1 was started with --nodes 3 but rank 0 with --nodes 2" "$tmp/err" \
		&& ok "mismatched --nodes refused: $(cat "$tmp/err")" || bad "mismatched --nodes: rank 0 said '$(cat "$tmp/err")'"
	if wait $f; then
		bad "the follower with --nodes 3 succeeded"
	elif grep -q "node 1 was started with --nodes 3 but rank 0 with --nodes 2" "$tmp/follower.err"; then
		ok "the follower refused too"
	else
		bad "the follower with --nodes 3 said '$(cat "$tmp/follower.err")'"
	fi
fi

# options: each refused with one sentence, before anything listens or connects
refuse() {
	what=$1
	shift
	if "$engine" --model "$dir" "$@" > /dev/null 2> "$tmp/err"; then
		bad "$what: accepted"
	elif [ "$(wc -l < "$tmp/err")" -eq 1 ]; then
		ok "$what refused: $(cat "$tmp/err")"
	else
		bad "$what: not one line: $(cat "$tmp/err")"
	fi
}
rdv="--rendezvous 127.0.0.1:1"
refuse "--nodes with --simulate-ranks" --nodes 2 --node-rank 0 $rdv --simulate-ranks 2 --ids "$tmp/ten.ids" --greedy 1
refuse "--nodes with --gpus" --nodes 2 --node-rank 0 $rdv --gpus 2 --ids "$tmp/ten.ids" --greedy 1
refuse "--node-rank 2 of --nodes 2" --nodes 2 --node-rank 2 $rdv
refuse "a follower with a verb" --nodes 2 --node-rank 1 $rdv --ids "$tmp/ten.ids" --greedy 1
refuse "--nodes without --rendezvous" --nodes 2 --node-rank 0 --ids "$tmp/ten.ids" --greedy 1
refuse "--nodes without --node-rank" --nodes 2 $rdv --ids "$tmp/ten.ids" --greedy 1
refuse "--rendezvous without a port" --nodes 2 --node-rank 1 --rendezvous localhost
refuse "--node-rank without --nodes" --node-rank 1 $rdv
refuse "--nodes with --tokenize" --nodes 2 --node-rank 0 $rdv --tokenize
exit $fail
