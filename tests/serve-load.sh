#!/bin/bash
# tests/serve-load.sh: dscoder-engine --serve with many clients (tests/serve_load_test.py): 16 concurrent
# greedy streams equal to the same requests alone, then 1000 requests from 32 clients with random cancels
# (all answered or cancelled, the server alive and its memory flat), then SIGTERM: exit 0.
. "$top_srcdir/tests/cli-lib.sh"
. "$top_srcdir/tests/http-lib.sh"
watchdog 170
# one malloc arena per kind of thread keeps the resident size a measure of what is kept, not of how
# glibc spread 40 threads' allocations
export MALLOC_ARENA_MAX=2
# a context whose latent cache is resident from the start (under a megabyte a layer, see
# cpu_buffer_alloc): a larger one is faulted in 2 MB huge pages as answers first reach a position,
# and a load round that reaches further than the warm-up grew by 12-25 MB of cache, not of leaks
start_server --slots 4 --queue 64 --ctx 512 || exit 1
timeout 60 python3 "$top_srcdir/tests/serve_load_test.py" "$port" "$server_pid" same || fail=1
timeout 100 python3 "$top_srcdir/tests/serve_load_test.py" "$port" "$server_pid" load "${SERVE_LOAD_REQUESTS:-1000}" || fail=1
stop_server
[ "$server_status" = 0 ] && ok "SIGTERM after the load: exit 0" || bad "the server exited $server_status"
exit $fail
