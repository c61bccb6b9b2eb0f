# http-lib.sh: what the tests of dscoder-engine --serve share (sourced after cli-lib.sh): the demo model,
# start_server (port 0, waits for "ready"), stop_server, and a watchdog so that nothing hangs.
model="$top_srcdir/models/dscoder-demo"
# The whole test ends after this many seconds, whatever hangs (the harness has no timeout of its own).
watchdog() {
	( trap 'kill $sleep_pid 2>/dev/null; exit 0' TERM
	  sleep "$1" & sleep_pid=$!
	  wait $sleep_pid && { echo "FAIL the test ran over $1 s"; kill -TERM $$; } ) 2>/dev/null &
	watchdog_pid=$!
	trap 'kill $watchdog_pid 2>/dev/null; [ -n "${server_pid:-}" ] && kill -KILL $server_pid 2>/dev/null; rm -rf "$tmp"' EXIT
}

# start_server [options...]: dscoder-engine --serve 127.0.0.1:0 on the demo model with its stderr in
# $tmp/server.log; sets server_pid, port and base (http://127.0.0.1:PORT). Returns 1 if it never gets ready.
start_server() {
	: >"$tmp/server.log"
	"$engine" --model "$model" --threads 1 --serve 127.0.0.1:0 "$@" 2>"$tmp/server.log" &
	server_pid=$!
	port=
	for _ in $(seq 1 300); do
		port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/v1.*|\1|p' "$tmp/server.log")
		if [ -n "$port" ] && grep -q "ready" "$tmp/server.log"; then
			base="http://127.0.0.1:$port"
			return 0
		fi
		kill -0 $server_pid 2>/dev/null || break
		sleep 0.1
	done
	echo "the server did not start:"; cat "$tmp/server.log"
	return 1
}

# stop_server: SIGTERM, and the exit status in $server_status.
stop_server() {
	kill -TERM $server_pid 2>/dev/null
	wait $server_pid
	server_status=$?
	server_pid=
}
