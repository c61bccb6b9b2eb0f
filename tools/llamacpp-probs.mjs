// llamacpp-probs.mjs: llama.cpp's next-token distribution after a prompt against dscoder-engine's, on
// the same GGUF file: checks that llama.cpp reads a file the way this engine does (a file written by
// --quantize, or a type new to either), by an engine nobody here wrote. llama.cpp through
// node-llama-cpp's prebuilt CPU build, not a dependency of this project:
//   mkdir /tmp/nlc && cd /tmp/nlc && npm init -y && npm install node-llama-cpp@3.22.1
//   dscoder-engine --model FILE.gguf --ids PROMPT.ids --logits OURS.f32
//   cp tools/llamacpp-probs.mjs /tmp/nlc && node /tmp/nlc/llamacpp-probs.mjs FILE.gguf PROMPT.ids OURS.f32
// Prints the largest and the summed |p_llama.cpp - p_ours| over the vocabulary at the prompt's last
// position (softmax of OURS.f32's last row), and both top-3 ids. llama.cpp rounds activations to 8 bits,
// so a file both read alike differs by about 1e-4 at most (the tiny Q4_K_M model: 4e-5 max, 3e-3 summed);
// a layout read differently, by far more.
import {getLlama} from "node-llama-cpp";
import fs from "fs";
const [,, modelPath, idsPath, oursPath] = process.argv;
const ids = fs.readFileSync(idsPath, "utf8").trim().split(/\s+/).map(Number);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
const nv = model.tokens.count ?? model.fileInfo.metadata.tokenizer.ggml.tokens.length;
const ctx = await model.createContext({contextSize: Math.max(256, ids.length + 8), threads: 2, sequences: 1});
const seq = ctx.getSequence();
const p = new Float64Array(nv);
for await (const out of seq.evaluateWithMetadata(ids, {probabilities: true}, {temperature: 1, topK: nv, topP: 1, minP: 0})) {
  for (const [tok, pr] of out.probabilities) p[tok] = pr;
  break;
}
const raw = fs.readFileSync(oursPath);
const all = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
const last = all.subarray(all.length - nv);
let m = -Infinity;
for (const v of last) m = Math.max(m, v);
const q = Array.from(last, v => Math.exp(v - m));
const s = q.reduce((a, b) => a + b, 0);
let mx = 0, sum = 0;
for (let i = 0; i < nv; i++) {
  const d = Math.abs(p[i] - q[i] / s);
  mx = Math.max(mx, d);
  sum += d;
}
const top = a => Array.from(a.keys()).sort((i, j) => a[j] - a[i]).slice(0, 3);
console.log(JSON.stringify({model: modelPath, max_abs_dp: mx, sum_abs_dp: sum, top_llamacpp: top(Array.from(p)), top_ours: top(q)}));
process.exit(0);
