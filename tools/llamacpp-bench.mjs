// llamacpp-bench.mjs: llama.cpp's prefill and decode tokens/s on a GGUF file, as dscoder-engine --bench measures
// them (a 512-token prompt of random ids, then 64 greedy tokens; the median of 3 rounds), for side-by-side runs.
// llama.cpp through node-llama-cpp's prebuilt CPU build, which is not a dependency of this project:
//   mkdir /tmp/nlc && cd /tmp/nlc && npm init -y && npm install node-llama-cpp@3.22.1
//   cp tools/llamacpp-bench.mjs /tmp/nlc && node /tmp/nlc/llamacpp-bench.mjs MODEL.gguf [THREADS]
// (llama.cpp takes a deepseek2 file without q_lora_rank only at 27 layers: make the bench model with
// tools/gen-checkpoint.py --preset bench --num-hidden-layers 27, then dscoder-engine --quantize)
import {getLlama} from "node-llama-cpp";
const [,, modelPath, threadsArg] = process.argv;
const threads = Number(threadsArg || 2);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
const res = [];
for (let round = 0; round < 3; round++) {
  const ctx = await model.createContext({contextSize: 1024, threads, batchSize: 512, sequences: 1});
  const seq = ctx.getSequence();
  let s = 1234 + round; const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648);
  const prompt = Array.from({length: 512}, () => 100 + rnd() % 99000);
  let t0 = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(prompt);
  const pf = 512 / ((performance.now() - t0) / 1000);
  let n = 0; t0 = performance.now();
  for await (const tok of seq.evaluate([prompt[511]], {temperature: 0})) { if (++n >= 64) break; }
  const dc = n / ((performance.now() - t0) / 1000);
  res.push([pf, dc]);
  await ctx.dispose();
}
const med = a => a.slice().sort((x, y) => x - y)[1];
console.log(JSON.stringify({model: modelPath, prefill: med(res.map(r => r[0])).toFixed(1), decode: med(res.map(r => r[1])).toFixed(1), rounds: res.map(r => r.map(v => v.toFixed(1)))}));
process.exit(0);
