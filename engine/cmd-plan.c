/* cmd-plan.c: dscoder-engine --plan: how a model splits over N GPUs, the bytes of weights and KV
 * cache per GPU, and whether it fits. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <stdio.h>
#include <string.h>

#include "engine-cli.h"
#include "plan.h"

#define ERR_LEN 1024

int cli_plan(const struct cli_args *a)
{
	char err[ERR_LEN], path[4096];
	struct ds_config cfg;
	const char *name;

	if (a->synthetic != NULL) {
		if (ds_plan_synthetic_config(a->synthetic, &cfg, err, sizeof err) != 0)
			return cli_fail("%s", err);
		name = strncmp(a->synthetic, "full", 4) == 0 ? "DeepSeek-Coder-V2 (236B), released config"
			: "DeepSeek-Coder-V2-Lite (16B), released config";
	} else {
		/* the plan needs only the configuration: no weights are read */
		snprintf(path, sizeof path, "%s/config.json", a->model);
		if (ds_config_load(path, &cfg, err, sizeof err) != 0)
			return cli_fail("%s", err);
		name = a->model;
	}
	int n = a->gpus > 0 ? a->gpus : 1;
	long long ctx = a->n_ctx > 0 ? a->n_ctx : cfg.max_position_embeddings;
	double gb = a->gpu_mem_gb > 0 ? a->gpu_mem_gb : 80.0;
	int fits = ds_plan_print(stdout, name, &cfg, n, ctx, (uint64_t)(gb * (double)(1ull << 30)), err, sizeof err);
	if (fits < 0)
		return cli_fail("--plan: %s", err);
	/* the plan is the answer, fitting or not: a script reads the "fits:" line */
	return fflush(stdout) == 0 ? 0 : 1;
}

const struct cli_verb_entry cli_plan_entry = {
	.verb = VERB_PLAN, .name = "--plan",
	.flags = CLI_GPU_COUNT | CLI_SYNTHETIC, .exec = cli_plan,
	.usage = "  --plan --gpus N [--ctx T] [--gpu-mem GiB]   how the model splits over N GPUs: weights and KV cache\n"
		 "                           per GPU and whether it fits (--synthetic lite|full: the released configs)\n",
};
