// openai_sdk_test.cjs: the official OpenAI Node.js SDK against dscoder-engine --serve (run by
// tests/serve-openai-sdk.sh): a streamed chat equal to the same chat whole, a completion, fill in the
// middle through suffix equal to the engine's own --fim-prefix/--fim-suffix, a bad key, a cancelled stream.
// usage: node openai_sdk_test.cjs SDK_DIR BASE_URL KEY EXPECTED_FIM_FILE
'use strict';
const path = require('path');
const fs = require('fs');
const sdk = require(path.join(process.argv[2], 'node_modules', 'openai'));
const OpenAI = sdk.OpenAI || sdk.default;
const [base, key, fimFile] = process.argv.slice(3);
const model = 'dscoder-demo';
let failed = 0;
const ok = (what) => console.log('ok   ' + what);
const bad = (what) => { console.log('FAIL ' + what); failed = 1; };
const check = (cond, what, detail) => (cond ? ok(what) : bad(what + ': ' + detail));

const client = new OpenAI({ baseURL: base + '/v1', apiKey: key, maxRetries: 0, timeout: 30000 });

async function health() {
  const r = await fetch(base + '/health');
  return r.json();
}

async function main() {
  const messages = [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'write a quick sort algorithm in python.' },
  ];

  // a streamed chat, joined, equals the same chat answered whole (greedy)
  const whole = await client.chat.completions.create({ model, messages, max_tokens: 48, temperature: 0 });
  check(whole.object === 'chat.completion' && whole.choices[0].message.role === 'assistant',
    'chat.completion through the SDK', JSON.stringify(whole));
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 48, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '', finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta.content || '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  check(text === whole.choices[0].message.content && text.length > 0, 'the streamed chat equals the whole one',
    JSON.stringify([text, whole.choices[0].message.content]));
  check(finish === whole.choices[0].finish_reason && chunks > 3, `finish_reason ${finish} over ${chunks} chunks`, finish);
  check(usage && usage.completion_tokens === whole.usage.completion_tokens && usage.prompt_tokens > 0,
    'usage in the stream\'s last chunk', JSON.stringify(usage));

  // a completion, not streamed
  const comp = await client.completions.create({ model, prompt: 'def quick_sort(arr):', max_tokens: 10, temperature: 0 });
  check(comp.object === 'text_completion' && comp.usage.completion_tokens === 10 &&
    comp.choices[0].finish_reason === 'length', 'a completion of 10 tokens', JSON.stringify(comp));

  // fill in the middle through suffix, as DeepSeek's API: the hole the engine's own FIM verb prints
  const fim = await client.completions.create({
    model, prompt: 'def add(a, b):\n    ', suffix: '\n\nprint(add(1, 2))\n', max_tokens: 12, temperature: 0,
  });
  const expected = fs.readFileSync(fimFile, 'utf8').replace(/\n$/, '');
  check(fim.choices[0].text === expected, 'FIM through suffix equals --fim-prefix/--fim-suffix',
    JSON.stringify([fim.choices[0].text, expected]));

  // a bad key
  const wrong = new OpenAI({ baseURL: base + '/v1', apiKey: 'sk-wrong', maxRetries: 0 });
  try {
    await wrong.models.list();
    bad('a bad key was accepted');
  } catch (e) {
    check(e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === 'invalid_api_key',
      'a bad key: AuthenticationError 401 invalid_api_key', `${e.constructor.name} ${e.status} ${e.code}`);
  }
  const models = await client.models.list();
  check(models.data.length === 1 && models.data[0].id === model, 'models.list()', JSON.stringify(models.data));

  // a cancelled stream: the request leaves the server (its count drops to 0), which answers the next one
  const controller = new AbortController();
  const long = await client.completions.create(
    { model, prompt: 'def', max_tokens: 0, temperature: 5, seed: 3, stream: true },
    { signal: controller.signal });
  let got = 0, ended = false;
  try {
    for await (const chunk of long) {
      if (chunk.choices[0] && chunk.choices[0].finish_reason) ended = true;
      if (++got === 5) controller.abort();
    }
  } catch (e) {
    // the SDK ends the iteration quietly on an abort, or throws APIUserAbortError: both are an abort
    if (!(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError')) throw e;
  }
  check(got >= 5 && !ended, `the stream aborted after ${got} chunks`, 'it reached its end');
  let h;
  for (let i = 0; i < 100; i++) {
    h = await health();
    if (h.requests === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  check(h.requests === 0, 'the server cancelled the aborted request', JSON.stringify(h));
  const after = await client.chat.completions.create({ model, messages, max_tokens: 48, temperature: 0 });
  check(after.choices[0].message.content === whole.choices[0].message.content, 'the next request is answered as before',
    after.choices[0].message.content);
}

main().then(() => process.exit(failed), (e) => { console.log('FAIL ' + (e.stack || e)); process.exit(1); });
