#!/bin/bash
# tests/serve-openai-sdk.sh: the official OpenAI Node.js SDK (npm package openai, installed on first run
# into the build's tests/openai-sdk) against dscoder-engine --serve on the demo model
# (tests/openai_sdk_test.cjs). Without node, npm or the registry it skips, which .ci/run counts as failed.
. "$top_srcdir/tests/cli-lib.sh"
. "$top_srcdir/tests/http-lib.sh"
sdk_version=5.23.2
sdk="$top_builddir/tests/openai-sdk"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "node or npm not found (tools/install-deps installs them): skipped"; exit 77; }
if [ ! -f "$sdk/node_modules/openai/package.json" ] ||
   ! grep -q "\"version\": \"$sdk_version\"" "$sdk/node_modules/openai/package.json"; then
	mkdir -p "$sdk"
	timeout 300 npm install --prefix "$sdk" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
		"openai@$sdk_version" >"$tmp/npm.log" 2>&1 ||
		{ cat "$tmp/npm.log"; echo "could not install openai@$sdk_version from the npm registry: skipped"; exit 77; }
fi
watchdog 120

# what the engine's own verb puts in the hole, greedy: the SDK's FIM must give the same
"$engine" --model "$model" --threads 1 --temperature 0 --max-tokens 12 --fim-prefix "def add(a, b):
    " --fim-suffix "

print(add(1, 2))
" >"$tmp/fim" || { echo "FAIL --fim-prefix/--fim-suffix"; exit 1; }

echo "sk-sdk-test" >"$tmp/key"
start_server --api-key-file "$tmp/key" || exit 1
timeout 100 node "$top_srcdir/tests/openai_sdk_test.cjs" "$sdk" "$base" sk-sdk-test "$tmp/fim" || fail=1
stop_server
[ "$server_status" = 0 ] && ok "the server exits 0 on SIGTERM" || bad "the server exited $server_status"
exit $fail
