/* test-plan.c: the partition plan and its memory accounting against sizes computed by hand for the
 * released DeepSeek-Coder-V2 configurations (236B and Lite). */
#include "build-config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static int failures;

#define CHECK_EQ(what, got, want) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	if (g_ != w_) { \
		fprintf(stderr, "FAIL %s:%d: %s is %lld, expected %lld\n", __FILE__, __LINE__, what, g_, w_); \
		failures++; \
	} \
} while (0)

#define CHECK(what, cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, what); \
		failures++; \
	} \
} while (0)

static void load(const char *which, struct ds_config *c)
{
	char err[256];
	if (ds_plan_synthetic_config(which, c, err, sizeof err) != 0) {
		fprintf(stderr, "FAIL: %s\n", err);
		exit(1);
	}
}

/* The whole models. 236B: V=102400, H=5120, 60 layers, 128 heads, q_lora 1536, kv_lora 512,
 * nope/rope/v 128/64/128, 160 routed + 2 shared experts of 1536, dense layer 0 of 12288.
 *   embed + lm_head + norm          = 2*102400*5120 + 5120                      = 1048581120
 *   attention, per layer: norms 2*5120; q_a 1536*5120 + 1536; q_b 128*192*1536; kv_a 576*5120 + 512;
 *     kv_b 128*256*512; o 5120*128*128 = 10240 + 7864320 + 1536 + 37748736 + 2949120 + 512 + 16777216
 *     + 83886080                                                        = 149237760 (x60 = 8954265600)
 *   layer 0 MLP 3*5120*12288                                            = 188743680
 *   MoE, 59 layers: router 160*5120 + experts 160*3*5120*1536 + shared 3*5120*3072
 *     = 819200 + 3774873600 + 47185920                                  = 3822878720 (x59 = 225549844480)
 *   total = 1048581120 + 8954265600 + 188743680 + 225549844480          = 235741434880 (the card's 236B)
 * Lite: H=2048, 27 layers, 16 heads, q_proj, 64 routed experts of 1408, dense 10944: 15706484224 (15.7B). */
static void test_totals(void)
{
	struct ds_config c;
	load("full", &c);
	CHECK_EQ("236B parameters", ds_plan_total_params(&c), 235741434880ll);
	load("lite", &c);
	CHECK_EQ("Lite parameters", ds_plan_total_params(&c), 15706484224ll);
}

/* 236B on 8 GPUs: 16 heads, 12288/8 = 1536 MLP columns, 3072/8 = 384 shared columns and 160/8 = 20
 * experts each. Rank 1 (no lm_head):
 *   embed 102400*5120                                             =   524288000
 *   attention x60: 2*5120 + 1536*5120 + 1536 + 16*192*1536 + 576*5120 + 512 + 16*256*512 + 5120*16*128
 *                = 10240 + 7864320 + 1536 + 4718592 + 2949120 + 512 + 2097152 + 10485760
 *                = 28127232 (x60 = 1687633920)
 *   layer 0 MLP: 3*5120*1536                                      =    23592960
 *   MoE x59: 160*5120 + 20*3*5120*1536 + 3*5120*384 = 819200 + 471859200 + 5898240
 *          = 478576640 (x59 = 28236021760)
 *   total = 524288000 + 1687633920 + 23592960 + 28236021760        = 30471536640
 * Rank 0 adds lm_head and norm: + 102400*5120 + 5120                = 30995829760
 * KV cache at 128K (131072) tokens in F32: 60 * 131072 * 576 * 4 = 18119393280 bytes (16.875 GiB). */
static void test_full_8(void)
{
	struct ds_config c;
	struct ds_plan p;
	char err[256];
	load("full", &c);
	CHECK("plan of 236B on 8", ds_plan_make(&c, 8, &p, err, sizeof err) == 0);
	for (int r = 0; r < 8; r++) {
		CHECK_EQ("heads", p.rank[r].n_heads, 16);
		CHECK_EQ("head0", p.rank[r].head0, 16 * r);
		CHECK_EQ("mlp columns", p.rank[r].n_inter, 1536);
		CHECK_EQ("mlp column 0", p.rank[r].inter0, 1536 * r);
		CHECK_EQ("shared columns", p.rank[r].n_shared, 384);
		CHECK_EQ("experts", p.rank[r].n_experts, 20);
	}
	CHECK("expert 13 on rank 5", ds_plan_owns_expert(&p, 5, 13) && !ds_plan_owns_expert(&p, 4, 13));
	struct ds_rank_memory mem[8];
	ds_plan_memory(&c, &p, 131072, 2, 4, mem);
	CHECK_EQ("rank 0 weights", mem[0].weight_params, 30995829760ll);
	CHECK_EQ("rank 0 weight bytes", mem[0].weight_bytes, 2 * 30995829760ll);
	for (int r = 1; r < 8; r++)
		CHECK_EQ("rank r weights", mem[r].weight_params, 30471536640ll);
	CHECK_EQ("KV bytes at 128K", mem[0].kv_bytes, 18119393280ll);
	CHECK_EQ("KV replicated", mem[7].kv_bytes, 18119393280ll);
	/* 57.73 GiB + 16.875 GiB + activations + 2 GiB reserve: about 77 GiB, under 80 GiB, over 64 */
	CHECK("rank 0 fits 80 GiB", mem[0].total_bytes <= 80ull << 30);
	CHECK("rank 0 does not fit 64 GiB", mem[0].total_bytes > 64ull << 30);
	CHECK("activations are small", mem[0].act_bytes < (1ull << 30) && mem[0].act_bytes > 0);
	CHECK_EQ("total", mem[0].total_bytes,
		 mem[0].weight_bytes + mem[0].kv_bytes + mem[0].act_bytes + mem[0].reserve_bytes);
	ds_plan_free(&p);

	/* the printed plan says the same */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int fits = ds_plan_print(f, "full", &c, 8, 131072, 80ull << 30, err, sizeof err);
	fclose(f);
	CHECK_EQ("236B fits 8 x 80 GiB at 128K", fits, 1);
	CHECK("printed verdict", buf != NULL && strstr(buf, "fits: yes") != NULL);
	free(buf);
	f = open_memstream(&buf, &len);
	fits = ds_plan_print(f, "full", &c, 4, 131072, 80ull << 30, err, sizeof err);
	fclose(f);
	/* 4 GPUs: 60245201920 * 2 bytes = 112.2 GiB of weights on rank 0 alone */
	CHECK_EQ("236B does not fit 4 x 80 GiB", fits, 0);
	CHECK("printed NO", buf != NULL && strstr(buf, "fits: NO") != NULL);
	CHECK("no context fits 4 GPUs", buf != NULL && strstr(buf, "no context fits") != NULL);
	free(buf);

	/* The longest context on 8 x 80 GiB: the full 163840 is 0.87 GiB over; each token costs
	 * 60 layers x 576 x 4 = 138240 bytes on every GPU, so the answer is the last n at which rank 0
	 * (the fullest: it also holds lm_head) still fits. */
	CHECK_EQ("plan", ds_plan_make(&c, 8, &p, err, sizeof err), 0);
	uint64_t gpu[8];
	for (int r = 0; r < 8; r++)
		gpu[r] = 80ull << 30;
	int64_t fit = ds_plan_fit_context(&c, &p, 163840, 2, 4, gpu);
	CHECK_EQ("longest context on 8 x 80 GiB", fit, 157082);
	ds_plan_memory(&c, &p, fit, 2, 4, mem);
	CHECK("rank 0 fits at that context", mem[0].total_bytes <= gpu[0]);
	ds_plan_memory(&c, &p, fit + 1, 2, 4, mem);
	CHECK("one token more does not fit", mem[0].total_bytes > gpu[0]);
	CHECK_EQ("a context that fits stays", ds_plan_fit_context(&c, &p, 131072, 2, 4, gpu), 131072);
	gpu[5] = 70ull << 30;   /* one GPU with less free memory limits all: the cache is replicated */
	CHECK("the smallest GPU decides", ds_plan_fit_context(&c, &p, 163840, 2, 4, gpu) < 157082 - 70000);
	gpu[5] = 50ull << 30;
	CHECK_EQ("weights alone too big", ds_plan_fit_context(&c, &p, 163840, 2, 4, gpu), 0);
	ds_plan_free(&p);
}

/* Lite on 3 GPUs, where nothing divides evenly: heads 16 = 6 + 5 + 5; MLP 10944 = 3 x 3648; shared
 * 2816 = 939 + 939 + 938; experts 64: e % 3 gives 22, 21, 21.
 * Rank 0: embed 102400*2048 + lm_head 102400*2048 + norm 2048 = 419432448
 *   attention x27 with 6 heads: 2*2048 + 6*192*2048 + 576*2048 + 512 + 6*256*512 + 2048*6*128
 *        = 4096 + 2359296 + 1179648 + 512 + 786432 + 1572864 = 5902848 (x27 = 159376896)
 *   layer 0 MLP 3*2048*3648 = 22413312
 *   MoE x26: 64*2048 + 22*3*2048*1408 + 3*2048*939 = 131072 + 190316544 + 5769216 = 196216832
 *          (x26 = 5101637632)
 *   total = 419432448 + 159376896 + 22413312 + 5101637632 = 5702860288
 * Rank 2: embed 209715200; attention with 5 heads 4096 + 1966080 + 1179648 + 512 + 655360 + 1310720
 *   = 5116416 (x27 = 138143232); MLP 22413312; MoE 131072 + 21*8650752 + 3*2048*938 = 131072 +
 *   181665792 + 5763072 = 187559936 (x26 = 4876558336); total = 5246830080. */
static void test_lite_3(void)
{
	struct ds_config c;
	struct ds_plan p;
	char err[256];
	load("lite", &c);
	CHECK("plan of Lite on 3", ds_plan_make(&c, 3, &p, err, sizeof err) == 0);
	int heads[3] = { 6, 5, 5 }, head0[3] = { 0, 6, 11 }, sh[3] = { 939, 939, 938 }, sh0[3] = { 0, 939, 1878 };
	int ex[3] = { 22, 21, 21 };
	for (int r = 0; r < 3; r++) {
		CHECK_EQ("heads", p.rank[r].n_heads, heads[r]);
		CHECK_EQ("head0", p.rank[r].head0, head0[r]);
		CHECK_EQ("mlp columns", p.rank[r].n_inter, 3648);
		CHECK_EQ("shared columns", p.rank[r].n_shared, sh[r]);
		CHECK_EQ("shared0", p.rank[r].shared0, sh0[r]);
		CHECK_EQ("experts", p.rank[r].n_experts, ex[r]);
	}
	struct ds_rank_memory mem[3];
	ds_plan_memory(&c, &p, 4096, 2, 4, mem);
	CHECK_EQ("Lite rank 0 weights", mem[0].weight_params, 5702860288ll);
	CHECK_EQ("Lite rank 2 weights", mem[2].weight_params, 5246830080ll);
	/* 27 layers * 4096 * 576 * 4 */
	CHECK_EQ("Lite KV at 4096", mem[1].kv_bytes, 254803968ll);
	ds_plan_free(&p);

	/* one rank is the whole model, in BF16: 15706484224 * 2 = 31412968448 bytes (31.4 GB) */
	CHECK("plan of Lite on 1", ds_plan_make(&c, 1, &p, err, sizeof err) == 0);
	ds_plan_memory(&c, &p, 4096, 2, 4, mem);
	CHECK_EQ("Lite on one GPU", mem[0].weight_bytes, 31412968448ll);
	ds_plan_free(&p);
}

static void test_refusals(void)
{
	struct ds_config c;
	struct ds_plan p;
	char err[256] = "";
	load("lite", &c);
	CHECK("17 ranks for 16 heads refused", ds_plan_make(&c, 17, &p, err, sizeof err) != 0);
	CHECK("the refusal names the heads", strstr(err, "16 attention heads") != NULL);
	CHECK("0 ranks refused", ds_plan_make(&c, 0, &p, err, sizeof err) != 0);
	CHECK("unknown synthetic name refused", ds_plan_synthetic_config("medium", &c, err, sizeof err) != 0);
	CHECK("the refusal names the choices", strstr(err, "'lite'") != NULL && strstr(err, "'full'") != NULL);
	/* a weight format after the name keeps the configuration; an unknown one is refused */
	struct ds_config q;
	CHECK("lite-q4_k_m accepted", ds_plan_synthetic_config("lite-q4_k_m", &q, err, sizeof err) == 0);
	load("lite", &c);
	CHECK("lite-q4_k_m is Lite's configuration",
	      q.hidden_size == c.hidden_size && q.n_routed_experts == c.n_routed_experts);
	CHECK("full-q8_0 accepted", ds_plan_synthetic_config("full-q8_0", &q, err, sizeof err) == 0 && q.hidden_size == 5120);
	CHECK("lite-q3_k refused", ds_plan_synthetic_config("lite-q3_k", &q, err, sizeof err) != 0 &&
				   strstr(err, "-q4_k_m") != NULL);
	CHECK("medium-q8_0 refused", ds_plan_synthetic_config("medium-q8_0", &q, err, sizeof err) != 0);
	load("full", &c);
	/* every rank needs a routed expert: Lite cut down to 8 experts cannot go on 9 ranks */
	load("lite", &c);
	c.n_routed_experts = 8;
	CHECK("9 ranks for 8 experts refused", ds_plan_make(&c, 9, &p, err, sizeof err) != 0 &&
	      strstr(err, "8 routed experts") != NULL);
	load("full", &c);
	CHECK("128 ranks for 128 heads", ds_plan_make(&c, 128, &p, err, sizeof err) == 0);
	/* 160 experts over 128 ranks: ranks 0..31 own two (e and e + 128), the others one */
	CHECK_EQ("experts of rank 31", p.rank[31].n_experts, 2);
	CHECK_EQ("experts of rank 32", p.rank[32].n_experts, 1);
	ds_plan_free(&p);
}

int main(void)
{
	test_totals();
	test_full_8();
	test_lite_3();
	test_refusals();
	if (failures > 0) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("plan: all checks passed\n");
	return 0;
}
