/* cpu-mla-causal.c: the attention of a prompt chunk's tokens to one another (causal), one head, as
 * matrix work: the scores of each block of keys against every later query with the kernels' rows()
 * (each key read once for all queries), the softmax weights times V with pv. */
#include "build-config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-backend.h"
#include "cpu-scratch.h"

#define CAUSAL_KB 64     /* keys per score block: the queries before a block's first key skip it */

void cpu_mla_causal(const struct cpu_ctx *c, const struct ds_attn_args *a, int h, float *s, long sld,
		    float *m, float *l, float *f, float *vsum)
{
	const int n = a->n, nh = a->n_heads, nope = a->nope, qd = a->nope + a->rope;
	const int kvd = a->nope + a->v_dim, kr = a->kv_rank, lat = a->kv_rank + a->rope, vd = a->v_dim;
	const long ldq = (long)nh * qd, ldkv = (long)nh * kvd;
	/* this thread's copy of the head's keys, [nope | rope] per token */
	float *causal_keys = cpu_scratch(CPU_SCRATCH_CAUSAL, (size_t)n * (size_t)qd * sizeof(float));
	for (int j = 0; j < n; j++) {
		memcpy(causal_keys + (long)j * qd, c->att_kv + j * ldkv + (long)h * kvd, (size_t)nope * sizeof(float));
		memcpy(causal_keys + (long)j * qd + nope, cpu_mla_cur(a) + (long)j * lat + kr,
		       (size_t)a->rope * sizeof(float));
	}
	/* s[i][j] = q_i . k_j for j in a block, i from the block's first key on */
	const float *q = a->q + (long)h * qd;
	for (int j0 = 0; j0 < n; j0 += CAUSAL_KB) {
		int jb = n - j0 < CAUSAL_KB ? n - j0 : CAUSAL_KB;
		struct ds_tensor kb = { .dtype = DS_F32, .data = causal_keys + (long)j0 * qd, .rows = jb, .cols = qd };
		c->k->rows(&kb, 0, jb, q + j0 * ldq, n - j0, ldq, s + j0 * sld + j0, sld);
	}
	for (int i = 0; i < n; i++) {
		float *si = s + (long)i * sld, bm = m[i];
		for (int j = 0; j <= i; j++) {
			si[j] *= a->scale;
			bm = si[j] > bm ? si[j] : bm;
		}
		f[i] = a->pos > 0 ? expf(m[i] - bm) : 0;     /* rescales the prefix part */
		l[i] = l[i] * f[i] + c->k->exp_sum(si, i + 1, bm);
		/* the later keys of this query's block of CAUSAL_KB, which pv reads: weight 0 */
		int end = (i / CAUSAL_KB + 1) * CAUSAL_KB;
		for (int j = i + 1; j < end && j < n; j++)
			si[j] = 0;
	}
	memset(vsum, 0, (size_t)n * (size_t)vd * sizeof *vsum);
	for (int i0 = 0; i0 < n; i0 += CAUSAL_KB) {
		int nq = n - i0 < CAUSAL_KB ? n - i0 : CAUSAL_KB;
		c->k->pv(vsum + (long)i0 * vd, vd, s + (long)i0 * sld, sld, c->att_kv + (long)h * kvd + nope, ldkv,
			 nq, i0 + nq, vd);
	}
}
