/* cmd-bench.c: dscoder-engine --bench: the verb's entry; the CPU benchmark is engine/bench-cpu.c, the
 * GPU and --synthetic one engine/bench-gpu.c. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <stdbool.h>
#include <string.h>

#include "engine-cli.h"

static int bench_exec(const struct cli_args *a)
{
	/* --batch (never with --synthetic: main refuses it) runs on whichever backend was chosen (the
	 * state's), through the scheduler's forward pass */
	if (a->bench_batch > 0)
		return cli_bench(a);
	bool gpu = a->synthetic != NULL || strcmp(a->backend, "cpu") != 0;
	if (gpu && a->bench_rounds > 0)
		return cli_fail("--bench --rounds R runs on the CPU backend; on a GPU, --bench measures each prompt "
				"length once");
	return gpu ? cli_bench_gpu(a) : cli_bench(a);
}

const struct cli_verb_entry cli_bench_entry = {
	.verb = VERB_BENCH, .name = "--bench",
	.flags = CLI_FORWARD | CLI_SYNTHETIC, .exec = bench_exec,
	.usage = "  --bench [--json]         load time, prefill and decode tokens/s, peak RSS, memory bandwidth used\n"
		 "  --bench --profile        also the time per token of each operation class (attention, mla,\n"
		 "                           router, experts, shared, dense, head, sampling, other; on a GPU each\n"
		 "                           class waits for the GPU, and decode runs without its recorded graph)\n"
		 "  --bench --rounds R       R rounds of prefill and decode, model loaded once: the median round\n"
		 "                           by bandwidth fraction, and the spread (on the CPU; a shared machine)\n"
		 "  --bench --batch N        N sequences decoded together: aggregate decode tokens/s\n"
		 "  --bench --batch N1,N2,... [--rounds R]   the batch curve, model loaded once: medians over R\n"
		 "                           rounds (3) and each size's gain over batch 1 in the same round\n"
		 "  --bench --synthetic lite|full[-q8_0|-q4_k_m] [--backend cuda]   --bench on random weights of\n"
		 "                           Coder-V2-Lite or the 236B model made on the GPU, no files (BF16, or\n"
		 "                           GGUF blocks; full: its memory plan if too big)\n",
};
