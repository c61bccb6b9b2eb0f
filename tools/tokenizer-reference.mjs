// tools/tokenizer-reference.mjs: expected ids for a tokenizer corpus from Hugging Face's own
// JavaScript tokenizer (npm @huggingface/tokenizers), an implementation this project did not write.
//
// usage: node tokenizer-reference.mjs TOKENIZER_DIR CASES.inp > CASES.out
//   (npm install @huggingface/tokenizers@0.2.0 in this folder or one above it first)
//
// The DeepSeek-V2 tokenizer.json that checkpoints ship was put through Unicode normalisation after
// its pre-tokenizer regex was written (see engine/tokenizer-regex.c): the letter class reads
// "ῐ-ΐ" (backwards) and "K-ℭ" (U+004B-U+212D) where the original had U+1FD3 and U+212A KELVIN
// SIGN. JavaScript's RegExp refuses the backwards range, so the original characters are put back
// here, each replacement checked to apply exactly once; the rest of the file is used as it is.
import { Tokenizer } from "@huggingface/tokenizers";
import fs from "fs";

const SEP = "\n__ggml_vocab_test__\n";
const RESTORE = [
	["Ὗ-ώ", "Ὗ-\u1f7d"], ["ᾼιῂ", "ᾼ\u1fbeῂ"], ["ῐ-ΐ", "ῐ-\u1fd3"], ["ῖ-Ί", "ῖ-\u1fdb"],
	["ℤΩℨK-ℭ", "ℤ\u2126ℨ\u212a-ℭ"],
];

const [dir, inp] = process.argv.slice(2);
const json = JSON.parse(fs.readFileSync(dir + "/tokenizer.json", "utf8"));
const config = JSON.parse(fs.readFileSync(dir + "/tokenizer_config.json", "utf8"));
for (const step of json.pre_tokenizer?.pretokenizers ?? []) {
	let re = step.pattern?.Regex;
	if (re === undefined || !re.includes("ℨK-ℭ"))
		continue;
	for (const [from, to] of RESTORE) {
		if (re.split(from).length !== 2)
			throw new Error(`expected one "${from}" in the letter class`);
		re = re.replace(from, to);
	}
	step.pattern.Regex = re;
}
const tok = new Tokenizer(json, config);
const cases = fs.readFileSync(inp, "utf8").split(SEP);
if (cases.length > 0 && cases[cases.length - 1] === "")
	cases.pop();	// a file that ends with the separator
const lines = cases.map((text) =>
	tok.encode(text, { add_special_tokens: false }).ids.map((id) => " " + id).join(""));
process.stdout.write(lines.join("\n") + "\n");
