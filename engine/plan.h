/* plan.h: the partition plan of tensor/expert parallelism (which heads, FFN columns and routed experts
 * each of N ranks owns) and its memory accounting per rank; used by the CPU simulation and the NCCL path. */
#ifndef DS_PLAN_H
#define DS_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"

/* What one rank computes. Heads and FFN slices are contiguous ranges, split as evenly as they go (the
 * first ranks take one more when the division leaves a remainder); routed expert e belongs to rank
 * e % n_ranks, so every group of group-limited routing is spread over all ranks and a token's six
 * experts rarely queue on one GPU. Everything else is replicated: the norms, q_a_proj (the q LoRA
 * down-projection), kv_a_proj and the latent KV cache (MLA caches one latent row per token shared by
 * all heads, so splitting heads does not split it), the router, and the embedding. Only rank 0 holds
 * the final norm and lm_head: only it computes logits and samples. */
struct ds_rank_plan {
	int head0, n_heads;            /* attention heads [head0, head0 + n_heads) */
	int inter0, n_inter;           /* columns of the dense MLP's intermediate dimension */
	int shared0, n_shared;         /* columns of the shared experts' intermediate dimension
	                                * (n_shared_experts * moe_intermediate_size wide) */
	int n_experts;                 /* routed experts owned (those with e % n_ranks == rank) */
};

struct ds_plan {
	int n_ranks;
	int n_routed;                  /* the config's n_routed_experts */
	struct ds_rank_plan *rank;     /* n_ranks */
};

/* Splits cfg over n_ranks. Every rank needs at least one head, one routed expert and, where the layers
 * exist, one column of the dense MLP and of the shared experts; returns -1 with a sentence in err
 * otherwise. */
int ds_plan_make(const struct ds_config *cfg, int n_ranks, struct ds_plan *p, char *err, size_t errlen);
void ds_plan_free(struct ds_plan *p);

static inline bool ds_plan_owns_expert(const struct ds_plan *p, int rank, int e)
{
	return e % p->n_ranks == rank;
}

/* Bytes on one rank. Elements are counted exactly from the config; bytes multiply them by the
 * element sizes given to ds_plan_memory. */
struct ds_rank_memory {
	uint64_t weight_params;        /* elements of the weights this rank holds */
	uint64_t weight_bytes;
	uint64_t kv_bytes;             /* latent cache: layers x n_ctx x (kv_lora_rank + rope) */
	uint64_t act_bytes;            /* the forward pass's activation buffers (F32, prefill batch of 128) */
	uint64_t reserve_bytes;        /* runtime, cuBLAS workspace, NCCL buffers: DS_PLAN_RESERVE */
	uint64_t total_bytes;
};

/* Bytes kept back per GPU for what the plan does not count element by element. */
#define DS_PLAN_RESERVE (2ull << 30)

/* Fills mem[r] for each rank of p at a context of n_ctx tokens, with weights of weight_elem bytes
 * (2: BF16 on a GPU) and a cache of cache_elem bytes per value (4: the engine keeps it in F32). */
void ds_plan_memory(const struct ds_config *cfg, const struct ds_plan *p, int64_t n_ctx, int weight_elem,
		    int cache_elem, struct ds_rank_memory *mem);

/* The longest context, at most want tokens, at which every rank r of p fits in free_bytes[r] (weights
 * of weight_elem bytes, cache of cache_elem bytes per value, as ds_plan_memory counts them); 0 when not
 * even 16 tokens fit. */
int64_t ds_plan_fit_context(const struct ds_config *cfg, const struct ds_plan *p, int64_t want, int weight_elem,
			    int cache_elem, const uint64_t *free_bytes);

/* Elements of every weight of cfg (the unsharded model). */
uint64_t ds_plan_total_params(const struct ds_config *cfg);

/* The released configurations, without files: "lite" (DeepSeek-Coder-V2-Lite, 16B) or "full" (the 236B
 * DeepSeek-Coder-V2), optionally followed by the weight format of the GPU benchmark's random weights
 * ("lite-q4_k_m", "lite-q8_0"). Returns -1 with a sentence in err for another name. */
int ds_plan_synthetic_config(const char *which, struct ds_config *cfg, char *err, size_t errlen);

/* Prints the plan of cfg on n_ranks GPUs of gpu_bytes each at n_ctx tokens as lines of text to f:
 * per rank the slices, weights, KV cache, activations, reserve and total, and whether each fits.
 * Returns 1 if every rank fits, 0 if not, -1 (err set) if the plan cannot be made. */
int ds_plan_print(FILE *f, const char *name, const struct ds_config *cfg, int n_ranks, int64_t n_ctx,
		  uint64_t gpu_bytes, char *err, size_t errlen);

#endif
