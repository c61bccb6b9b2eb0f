/* model.h: the DeepSeek-V2 configuration, the mapped weights, and loading a Hugging Face directory. */
#ifndef DS_MODEL_H
#define DS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "xalloc.h"

enum ds_topk_method { DS_TOPK_GREEDY = 0, DS_TOPK_GROUP_LIMITED = 1 };

/* Everything config.json says about the network (only the keys the forward pass uses, plus names). */
struct ds_config {
	int vocab_size;
	int hidden_size;
	int intermediate_size;      /* dense MLP width (layers < first_k_dense_replace) */
	int moe_intermediate_size;  /* width of one routed or shared expert */
	int num_hidden_layers;
	int num_attention_heads;
	int n_shared_experts;       /* 0: no shared experts */
	int n_routed_experts;       /* 0: every layer is dense */
	int num_experts_per_tok;
	float routed_scaling_factor;
	enum ds_topk_method topk_method;
	int n_group, topk_group;
	bool norm_topk_prob;
	int first_k_dense_replace;
	int moe_layer_freq;         /* layer l is MoE iff l >= first_k_dense_replace && l % freq == 0 */
	int q_lora_rank;            /* 0: q_proj (Lite); otherwise q_a_proj -> norm -> q_b_proj */
	int kv_lora_rank;
	int qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
	int max_position_embeddings;
	float rms_norm_eps;
	float rope_theta;
	bool yarn;                  /* rope_scaling.type == "yarn" */
	float yarn_factor;
	int yarn_original_max_position;
	float yarn_beta_fast, yarn_beta_slow;
	float yarn_mscale, yarn_mscale_all_dim;
	int bos_token_id, eos_token_id;
	char dtype_name[16];        /* torch_dtype, for display */
};

/* How a tensor's bytes are arranged: row after row as the file has them, or (the CPU backend with the
 * int8 kernels, kernels/cpu/cpu-rows4.h) each group of 4 rows interleaved in place. */
enum ds_layout {
	DS_LAYOUT_ROWS = 0,
	DS_LAYOUT_ROWS4,
	DS_LAYOUT_UK4,           /* a kv_b_proj's W_UK as the CPU's int8 absorb reads it (cpu-uk4.h) */
};

/* A view of one weight tensor inside a mapped file (never owned). 1-D tensors have rows == 1.
 * Matrices are row-major (out_features rows of in_features columns), as PyTorch's Linear stores them;
 * a row of a block-quantized type is cols / block blocks (ds_row_bytes). */
struct ds_tensor {
	enum ds_dtype dtype;
	const void *data;
	int64_t rows, cols;
	enum ds_layout layout;   /* DS_LAYOUT_ROWS unless the CPU backend rearranged it */
};

/* Is layer l a MoE layer under cfg? */
static inline bool ds_layer_is_moe(const struct ds_config *cfg, int l)
{
	return cfg->n_routed_experts > 0 && l >= cfg->first_k_dense_replace &&
	       l % (cfg->moe_layer_freq > 0 ? cfg->moe_layer_freq : 1) == 0;
}

struct ds_layer {
	struct ds_tensor input_norm;   /* (hidden) */
	/* q path: q_proj when q_lora_rank == 0, else q_a_proj, q_a_norm, q_b_proj */
	struct ds_tensor q_proj;       /* (heads * (nope + rope), hidden) */
	struct ds_tensor q_a_proj;     /* (q_lora_rank, hidden) */
	struct ds_tensor q_a_norm;     /* (q_lora_rank) */
	struct ds_tensor q_b_proj;     /* (heads * (nope + rope), q_lora_rank) */
	struct ds_tensor kv_a_proj;    /* (kv_lora_rank + rope, hidden): kv_a_proj_with_mqa */
	struct ds_tensor kv_a_norm;    /* (kv_lora_rank) */
	struct ds_tensor kv_b_proj;    /* (heads * (nope + v), kv_lora_rank); rows == 0 where k_b/v_b hold it */
	/* kv_b_proj as newer GGUF converters split it for MLA's weight absorption, in the file's own types:
	 * rows == 0 where kv_b_proj is whole */
	struct ds_tensor k_b;          /* (heads * kv_lora_rank, nope): each head's W_UK transposed */
	struct ds_tensor v_b;          /* (heads * v, kv_lora_rank): each head's W_UV */
	/* kv_b_proj's key rows again, as the CPU backend's int8 absorb reads them (cpu-uk4.h), made at its
	 * load and owned by the model; rows == 0: none. Decode reads these instead of those rows. */
	struct ds_tensor kv_b_uk4;     /* (heads * nope, kv_lora_rank), layout DS_LAYOUT_UK4 */
	/* kv_b_proj's value rows (each head's W_UV) one head after another, in the rows4 layout of the
	 * CPU backend's int8 set (cpu-rows4.h), made at its load and owned by the model; rows == 0: none.
	 * One-token decode's last MLA phase reads these instead of those rows. */
	struct ds_tensor kv_b_uv4;     /* (heads * v, kv_lora_rank), layout DS_LAYOUT_ROWS4 */
	struct ds_tensor o_proj;       /* (hidden, heads * v) */
	struct ds_tensor post_norm;    /* (hidden): post_attention_layernorm */
	/* dense MLP (layer is not MoE) */
	struct ds_tensor gate_proj;    /* (intermediate, hidden) */
	struct ds_tensor up_proj;      /* (intermediate, hidden) */
	struct ds_tensor down_proj;    /* (hidden, intermediate) */
	/* MoE (layer is MoE) */
	struct ds_tensor router;       /* (n_routed, hidden): mlp.gate.weight */
	struct ds_tensor *exp_gate;    /* n_routed x (moe_inter, hidden) */
	struct ds_tensor *exp_up;      /* n_routed x (moe_inter, hidden) */
	struct ds_tensor *exp_down;    /* n_routed x (hidden, moe_inter) */
	struct ds_tensor shared_gate;  /* (n_shared * moe_inter, hidden) */
	struct ds_tensor shared_up;    /* (n_shared * moe_inter, hidden) */
	struct ds_tensor shared_down;  /* (hidden, n_shared * moe_inter) */
};

struct ds_weights {
	struct ds_tensor embed;        /* (vocab, hidden): model.embed_tokens.weight */
	struct ds_layer *layers;       /* num_hidden_layers */
	struct ds_tensor norm;         /* (hidden): model.norm.weight */
	struct ds_tensor lm_head;      /* (vocab, hidden) */
};

struct ds_mapping {
	void *addr;
	size_t size;
	bool in_memory;   /* the file was read into anonymous memory at load (ds_map_reader_finish): its
	                   * bytes may be rewritten in place without copying pages (cpu-rows4.c) */
};

struct ds_model {
	char *dir;                     /* the checkpoint directory */
	char *name;                    /* last path component, for display */
	struct ds_config cfg;
	struct ds_weights w;
	struct ds_mapping *maps;       /* mmapped safetensors files */
	void **owned;                  /* tensors the loader had to build (freed with the model) */
	int n_owned;
	int n_maps;
	uint64_t weight_bytes;         /* sum of all tensors' bytes */
	uint64_t n_params;             /* sum of all tensors' elements */
	int n_expert_tensors;          /* routed experts in each MoE layer's exp_* arrays when fewer than
	                                * n_routed_experts (a rank's shard, engine/shard.h); 0: all */
	int n_rows4;                   /* matrices the CPU backend rearranged in place (cpu-rows4.h): no
	                                * other backend reads them so */
};

/* p (from malloc or aligned_alloc) freed with m: a table or copy a backend's load made beside the
 * weights */
static inline void ds_model_own(struct ds_model *m, void *p)
{
	m->owned = xrealloc(m->owned, sizeof *m->owned * (size_t)(m->n_owned + 1));
	m->owned[m->n_owned++] = p;
}

/* Progress while mapping/checking the files: called with bytes done and total. May be NULL. */
typedef void (*ds_progress_fn)(uint64_t done, uint64_t total, void *arg);

/* Parses dir/config.json into cfg. On error returns -1 with one sentence in err naming the file and
 * key; cfg is then unspecified. */
int ds_config_load(const char *path, struct ds_config *cfg, char *err, size_t errlen);
/* The same checks on a config.json already parsed (root), as another source (a GGUF file's
 * metadata) spells it; label names that source in errors. */
struct json_t;
int ds_config_from_json(const char *label, struct json_t *root, struct ds_config *cfg, char *err,
			size_t errlen);

/* Loads the checkpoint in dir: config.json, then model.safetensors or the shards named by
 * model.safetensors.index.json, mmapped read-only. Every tensor the config needs is checked for
 * presence, dtype and shape, and that its bytes lie inside its file. On success returns 0 and m owns
 * the mappings (release with ds_model_free). On error returns -1, m holds nothing, and err has one
 * sentence naming the file (and tensor or key) and the problem. */
int ds_model_load(const char *dir, struct ds_model *m, ds_progress_fn progress, void *arg,
		  char *err, size_t errlen);
void ds_model_free(struct ds_model *m);

/* Bytes of weight data read to decode one token (embedding row, attention, dense MLP, the routed
 * experts of top-k, shared experts, lm_head): the numerator of the bandwidth figure. */
uint64_t ds_model_bytes_per_token(const struct ds_model *m);

/* The same bytes by part, as --bench --profile times the operations that read them */
struct ds_token_bytes {
	uint64_t attention;     /* norms, q_proj (or q_a_proj, its norm and q_b_proj), kv_a_proj and its
				 * norm, o_proj */
	uint64_t mla;           /* kv_b_proj, or attn_k_b and attn_v_b (W_UK and W_UV) */
	uint64_t router;
	uint64_t experts;       /* top-k routed experts (expert 0's size for each) */
	uint64_t shared;        /* shared experts */
	uint64_t dense;         /* the dense MLPs of the first layers */
	uint64_t head;          /* final norm and lm_head */
	uint64_t other;         /* an embedding row, the post-attention norms */
};
void ds_model_token_bytes(const struct ds_model *m, struct ds_token_bytes *b);

/* Bytes of the whole tensor t. */
static inline uint64_t ds_tensor_bytes(const struct ds_tensor *t)
{
	return (uint64_t)t->rows * ds_row_bytes(t->dtype, t->cols);
}

/* Rows [r0, r0 + n) of t: a view, nothing copied. */
static inline struct ds_tensor ds_tensor_rows(const struct ds_tensor *t, int64_t r0, int64_t n)
{
	struct ds_tensor v = *t;
	v.data = (const char *)t->data + (size_t)r0 * ds_row_bytes(t->dtype, t->cols);
	v.rows = n;
	return v;
}

/* Reading one file's whole mapping in at load, in steps (for progress): where the model takes at most
 * half of the memory (total bytes) and the kernel has transparent huge pages, into anonymous memory on
 * huge pages that then replaces the mapping at the same address (engine/map-read.c says why);
 * otherwise in place (MADV_POPULATE_READ: the first prompt then pays no page faults, a fifth of its
 * time on the CPU), or not at all for a larger model. DSCODER_WEIGHTS=mmap keeps the file mapping. */
struct ds_map_reader {
	char *base, *twin;
	size_t size;
	uint64_t total;
	int fd;                    /* path, read into the twin */
};
/* base, size: the whole mapping of the file at path. */
void ds_map_reader_start(struct ds_map_reader *r, const char *path, void *base, size_t size, uint64_t total);
/* Reads [off, off + len) of the mapping (steps in order, page-aligned). */
void ds_map_reader_step(struct ds_map_reader *r, size_t off, size_t len);
/* Puts the copy in the mapping's place: 1 when the weights are now on huge pages, 0 when they stay
 * in the file mapping. */
int ds_map_reader_finish(struct ds_map_reader *r);
/* Models loaded after ds_map_keep_file_mappings(true) stay in their file mappings: for a reader that
 * drops pages it has read (MADV_DONTNEED), which a file mapping reads again from the file and
 * anonymous memory would read as zeros. */
void ds_map_keep_file_mappings(bool keep);

/* Loads a GGUF file (llama.cpp's deepseek2 layout) into m, as ds_model_load does a directory;
 * ds_model_load calls it for a .gguf path or a directory that holds one. */
int ds_model_load_gguf(const char *path, struct ds_model *m, ds_progress_fn progress, void *arg,
		       char *err, size_t errlen);

/* The GGUF file that path names: path itself when it is a file (checked when read), the one .gguf of a
 * directory without config.json, or NULL (a Hugging Face directory, or nothing). Caller frees. */
char *ds_model_gguf_path(const char *path);

#endif
