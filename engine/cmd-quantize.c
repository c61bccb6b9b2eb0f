/* cmd-quantize.c: dscoder-engine --quantize TYPE --out FILE.gguf: the verb's entry; the conversion is
 * engine/quantize-checkpoint.c. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include "engine-cli.h"

const struct cli_verb_entry cli_quantize_entry = {
	.verb = VERB_QUANTIZE, .name = "--quantize",
	.exec = cli_quantize,
	.usage = "  --quantize TYPE --out FILE.gguf   the checkpoint as a GGUF file, TYPE q4_k_m, q5_k_m, q8_0, q6_k,\n"
		 "                           bf16, f16 or f32 (norms stay f32; rows not whole blocks of 256 get q5_0,\n"
		 "                           q5_1 or q8_0)\n"
		 "  --split-kv-b             with --quantize: kv_b_proj as attn_k_b and attn_v_b, as newer llama.cpp\n"
		 "                           converters write it (the default is the legacy attn_kv_b)\n",
};
