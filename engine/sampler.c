/* sampler.c: picks the next token: repetition penalty, temperature, top-k, top-p, min-p, then a
 * draw from a seeded generator (greedy when the temperature is 0). Total: any logits and settings
 * give an id in the vocabulary. */
#include "sampler.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "xalloc.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct candidate {
	float logit;
	int id;
};

struct ds_sampler {
	struct ds_sampling p;
	int vocab_size;
	uint64_t rng;
	uint32_t *seen;             /* epoch stamp per id, so the penalty touches each id once */
	uint32_t epoch;
	struct candidate *cand;     /* vocab_size */
};

void ds_sampling_defaults(struct ds_sampling *p)
{
	*p = (struct ds_sampling){
		.max_tokens = 0,
		.temperature = 0.0f,
		.top_k = 0,
		.top_p = 1.0f,
		.min_p = 0.0f,
		.repetition_penalty = 1.0f,
		.seed = 0,
		.stop = NULL,
		.n_stop = 0,
	};
}

/* splitmix64: a small generator with good statistics whose whole state is the seed, so a seed
 * reproduces a run exactly. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 24 bits, enough for a float comparison. */
static float rng_float(uint64_t *state)
{
	return (float)(rng_next(state) >> 40) / 16777216.0f;
}

uint64_t ds_random_seed(void)
{
	static uint64_t counter;
	struct timespec ts;
	uint64_t state;

	clock_gettime(CLOCK_REALTIME, &ts);
	state = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	state ^= (uint64_t)getpid() << 32;
	state += __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9e3779b97f4a7c15ULL;
	return rng_next(&state);
}

struct ds_sampler *ds_sampler_new(int vocab_size, const struct ds_sampling *p)
{
	struct ds_sampler *s = xcalloc(1, sizeof *s);

	s->p = *p;
	s->vocab_size = vocab_size;
	s->rng = p->seed;
	s->seen = xcalloc((size_t)vocab_size, sizeof *s->seen);
	s->cand = xcalloc((size_t)vocab_size, sizeof *s->cand);
	return s;
}

void ds_sampler_free(struct ds_sampler *s)
{
	if (s == NULL)
		return;
	free(s->seen);
	free(s->cand);
	free(s);
}

/* The arg-max of a vocabulary of logits runs per decoded token; the scalar loop (compare with
 * x[best], move) was a dependency chain of about 4 ns an element, 0.43 ms for 102400 logits. Here
 * the maximum is found in 16 independent lanes, then the first index that holds it. */

/* The largest of x[0..n) and init that counts (finite_only: the finite values; otherwise every value
 * but NaN), as "v > m ? v : m" over the values in any order, which is what maxps computes. */
static inline float max_counted(const float *x, int n, float init, bool finite_only)
{
	float m = init;
	int i = 0;
#ifdef __SSE2__
	const __m128 inf = _mm_set1_ps(INFINITY), ninf = _mm_set1_ps(-INFINITY);
	const __m128 magnitude = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
	__m128 l0 = _mm_set1_ps(init), l1 = l0, l2 = l0, l3 = l0;
	float lane[16];

	for (; i + 16 <= n; i += 16) {
		__m128 v0 = _mm_loadu_ps(x + i), v1 = _mm_loadu_ps(x + i + 4);
		__m128 v2 = _mm_loadu_ps(x + i + 8), v3 = _mm_loadu_ps(x + i + 12);

		if (finite_only) {
			/* not finite (|v| not below inf: the infinities and NaN) counts as -inf */
			__m128 f0 = _mm_cmplt_ps(_mm_and_ps(v0, magnitude), inf);
			__m128 f1 = _mm_cmplt_ps(_mm_and_ps(v1, magnitude), inf);
			__m128 f2 = _mm_cmplt_ps(_mm_and_ps(v2, magnitude), inf);
			__m128 f3 = _mm_cmplt_ps(_mm_and_ps(v3, magnitude), inf);

			v0 = _mm_or_ps(_mm_and_ps(f0, v0), _mm_andnot_ps(f0, ninf));
			v1 = _mm_or_ps(_mm_and_ps(f1, v1), _mm_andnot_ps(f1, ninf));
			v2 = _mm_or_ps(_mm_and_ps(f2, v2), _mm_andnot_ps(f2, ninf));
			v3 = _mm_or_ps(_mm_and_ps(f3, v3), _mm_andnot_ps(f3, ninf));
		}
		/* maxps(v, l) is v > l ? v : l: a NaN v leaves the lane as it was */
		l0 = _mm_max_ps(v0, l0);
		l1 = _mm_max_ps(v1, l1);
		l2 = _mm_max_ps(v2, l2);
		l3 = _mm_max_ps(v3, l3);
	}
	_mm_storeu_ps(lane, l0);
	_mm_storeu_ps(lane + 4, l1);
	_mm_storeu_ps(lane + 8, l2);
	_mm_storeu_ps(lane + 12, l3);
	for (int j = 0; j < 16; j++)
		m = lane[j] > m ? lane[j] : m;
#else
	float lane[16];

	for (int j = 0; j < 16; j++)
		lane[j] = init;
	for (; i + 16 <= n; i += 16)
		for (int j = 0; j < 16; j++) {
			float v = x[i + j];

			if (!finite_only || isfinite(v))
				lane[j] = v > lane[j] ? v : lane[j];
		}
	for (int j = 0; j < 16; j++)
		m = lane[j] > m ? lane[j] : m;
#endif
	for (; i < n; i++)
		if (!finite_only || isfinite(x[i]))
			m = x[i] > m ? x[i] : m;
	return m;
}

/* The first i with x[i] == m (0 and -0 equal), or -1. */
static int first_equal(const float *x, int n, float m)
{
	int i = 0;
#ifdef __SSE2__
	__m128 vm = _mm_set1_ps(m);

	for (; i + 16 <= n; i += 16) {
		__m128 e = _mm_or_ps(_mm_or_ps(_mm_cmpeq_ps(_mm_loadu_ps(x + i), vm),
					       _mm_cmpeq_ps(_mm_loadu_ps(x + i + 4), vm)),
				     _mm_or_ps(_mm_cmpeq_ps(_mm_loadu_ps(x + i + 8), vm),
					       _mm_cmpeq_ps(_mm_loadu_ps(x + i + 12), vm)));

		if (_mm_movemask_ps(e) != 0)
			break;          /* the first is among these 16 */
	}
#endif
	for (; i < n; i++)
		if (x[i] == m)
			return i;
	return -1;
}

/* As the loop "if (x[i] > x[best]) best = i" from best = 0: a NaN in x[0] stays the answer (nothing
 * compares above it), a NaN elsewhere is never taken. */
int ds_argmax(const float *x, int n)
{
	if (n <= 1 || isnan(x[0]))
		return 0;
	int best = first_equal(x, n, max_counted(x, n, x[0], false));
	return best < 0 ? 0 : best;
}

/* The penalty of the CTRL paper as Hugging Face applies it: a positive logit is divided by the
 * penalty, a negative one multiplied, once per distinct id already seen. The result is kept finite
 * (an extreme penalty pushes it to +-FLT_MAX, not to an infinity), so that the penalty alone never
 * takes a token out of the running or makes it certain. */
static void apply_repetition_penalty(struct ds_sampler *s, float *logits, const int *history, int n)
{
	float penalty = s->p.repetition_penalty;

	if (penalty == 1.0f || n == 0 || !(penalty > 0.0f) || isinf(penalty))
		return;
	if (++s->epoch == 0) {
		for (int i = 0; i < s->vocab_size; i++)
			s->seen[i] = 0;
		s->epoch = 1;
	}
	for (int i = 0; i < n; i++) {
		int id = history[i];
		float x;

		if (id < 0 || id >= s->vocab_size || s->seen[id] == s->epoch)
			continue;
		s->seen[id] = s->epoch;
		x = logits[id];
		if (!isfinite(x))
			continue;
		x = x > 0 ? x / penalty : x * penalty;
		logits[id] = x > FLT_MAX ? FLT_MAX : x < -FLT_MAX ? -FLT_MAX : x;
	}
}

static int cmp_candidate_desc(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;

	if (x->logit != y->logit)
		return x->logit < y->logit ? 1 : -1;
	return x->id - y->id;
}

/* The largest finite logit's id (the first on ties), or -1 when none is finite. NaN and the
 * infinities are what a broken forward pass leaves; they are never picked. */
static int argmax_finite(const float *x, int n)
{
	float m = max_counted(x, n, -INFINITY, true);

	/* finite values are all above -inf: -inf says there was none */
	return m == -INFINITY ? -1 : first_equal(x, n, m);
}

int ds_sampler_pick(struct ds_sampler *s, float *logits, const int *history, int n_history)
{
	const struct ds_sampling *p = &s->p;
	int n = s->vocab_size, kept = 0, best;
	float max_logit, sum = 0, cut, temperature = p->temperature;

	/* The sampler is total: whatever the logits and the settings, it answers an id in [0, n). The
	 * protocol, the options and the profiles keep the settings in params_ranges; this holds even so,
	 * for logits that are not finite and for settings that underflow or overflow a float. */
	if (n <= 1)
		return 0;
	apply_repetition_penalty(s, logits, history, n_history);
	best = argmax_finite(logits, n);
	if (best < 0)
		return 0;               /* nothing finite: no token is likelier than another */
	if (!(temperature > 0.0f) || isinf(temperature))
		return best;            /* 0 is greedy; NaN or inf would make every weight NaN */

	/* Weights at this temperature, relative to the largest (so exp never overflows): the best token
	 * has exactly 1, a token that is not finite 0. */
	max_logit = logits[best];
	for (int i = 0; i < n; i++) {
		float w = isfinite(logits[i]) ? expf((logits[i] - max_logit) / temperature) : 0.0f;

		logits[i] = w == w ? w : 0.0f;
		sum += logits[i];
	}
	logits[best] = 1.0f;

	/* Candidates that can survive the filters. A token below (1 - top_p) / (n - 1) of the mass
	 * can never be inside the nucleus, and min_p removes those under min_p x the best, so the
	 * sort below sees only a handful of ids instead of the whole vocabulary. */
	cut = 0.0f;
	if (p->top_p < 1.0f)
		cut = (1.0f - p->top_p) / (float)(n - 1) * sum;
	if (p->min_p > 0.0f && p->min_p * 1.0f > cut)
		cut = p->min_p;
	if (!(cut <= 1.0f))
		cut = 1.0f;             /* the best token has weight exp(0) = 1 and always stays */
	for (int i = 0; i < n; i++)
		if (logits[i] >= cut && logits[i] > 0.0f)
			s->cand[kept++] = (struct candidate){ logits[i], i };
	if (kept == 0)
		return best;            /* cannot happen (the best has weight 1), but never read cand[-1] */
	qsort(s->cand, (size_t)kept, sizeof *s->cand, cmp_candidate_desc);

	if (p->top_k > 0 && p->top_k < kept)
		kept = p->top_k;
	if (p->top_p < 1.0f) {
		float total = 0, acc = 0;

		for (int i = 0; i < kept; i++)
			total += s->cand[i].logit;
		for (int i = 0; i < kept; i++) {
			acc += s->cand[i].logit;
			if (acc >= p->top_p * total) {
				kept = i + 1;
				break;
			}
		}
	}

	/* Draw from what is left. */
	{
		float total = 0, r, acc = 0;

		for (int i = 0; i < kept; i++)
			total += s->cand[i].logit;
		r = rng_float(&s->rng) * total;
		for (int i = 0; i < kept; i++) {
			acc += s->cand[i].logit;
			if (r < acc)
				return s->cand[i].id;
		}
		return s->cand[kept - 1].id;    /* rounding left r at the total; kept >= 1 */
	}
}
