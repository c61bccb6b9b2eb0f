/* net-ranks.c: ranks in separate processes over TCP, star-shaped around rank 0. The processes meet
 * through engine/rendezvous.c (rank 0's blob is the run's description) and keep those connections.
 * Then, per forward call, rank 0 sends (op, n, pos, tokens) to every follower; per all-reduce each
 * follower sends (n, its floats) and gets back the sum, which rank 0 adds up in rank order exactly as
 * the in-process simulation does. Every message is in the host's byte order (configure refuses
 * big-endian hosts); the version word of the handshake would show a peer that differs. Blocking
 * sockets: during a run a dead peer is an end of stream, and start-up has poll() deadlines. */
#include "build-config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net-ranks.h"
#include "rendezvous.h"
#include "simulate.h"
#include "xalloc.h"

/* bumped whenever a message changes */
#define NET_VERSION 0x44534e31u     /* "DSN1" */

enum { OP_CALL = 1, OP_QUIT = 2 };

/* The run's description: rank 0 sends its own in the rendezvous, each follower answers with its own. */
enum {
	DESC_VERSION, DESC_NODES, DESC_CTX, DESC_VOCAB, DESC_HIDDEN, DESC_LAYERS, DESC_HEADS, DESC_EXPERTS,
	DESC_CONFIG_HASH, DESC_WORDS
};

/* A follower's answer: its description, a status (0: ready) and the length of the sentence that
 * follows when it is not ready. */
#define NET_WHY_MAX 512

struct ds_net {
	int n_nodes, rank;
	int *fds;                   /* rank 0: fds[1..n_nodes) to the followers; a follower: fds[0] */
	void **args;                /* the rank_args of engine/simulate.h: this, for every rank */
	bool running;               /* the run started: ending it tells the followers to quit */
	unsigned char *io;          /* one message being put together or taken apart */
	size_t io_cap;
	void (*lost)(void *arg, const char *sentence);
	void *lost_arg;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes all n bytes (SIGPIPE never fires: MSG_NOSIGNAL). Returns 0, or -1 when the peer is gone. */
static int net_send(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads exactly n bytes, waiting at most until deadline (a now_ms() time; < 0: for ever). Returns 0;
 * 1 when the stream ended cleanly before the first byte (the peer closed between messages); -1 on an
 * error, an end in the middle, or the deadline. */
static int net_recv(int fd, void *buf, size_t n, long long deadline)
{
	char *p = buf;
	size_t got_all = 0;
	while (got_all < n) {
		if (deadline >= 0) {
			long long left = deadline - now_ms();
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			int pr = left > 0 ? poll(&pf, 1, left > INT32_MAX ? INT32_MAX : (int)left) : 0;
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr <= 0)
				return -1;
		}
		ssize_t r = recv(fd, p + got_all, n - got_all, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 && got_all == 0)
			return 1;
		if (r <= 0)
			return -1;
		got_all += (size_t)r;
	}
	return 0;
}

static unsigned char *net_io(struct ds_net *net, size_t n)
{
	if (n > net->io_cap) {
		free(net->io);
		net->io_cap = n;
		net->io = xmalloc(n);
	}
	return net->io;
}

/* The end of a run that cannot go on: the forward pass has no way to fail, so the process ends. */
static void __attribute__((noreturn, format(printf, 2, 3))) net_lost(struct ds_net *net, const char *fmt, ...)
{
	char sentence[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sentence, sizeof sentence, fmt, ap);
	va_end(ap);
	if (net->lost != NULL)
		net->lost(net->lost_arg, sentence);
	else
		fprintf(stderr, "%s\n", sentence);
	fflush(stdout);
	fflush(stderr);
	_exit(1);        /* from inside a forward pass: no exit handlers racing the other threads */
}

/* A socket that carries a run: small messages go out at once, and a peer machine that vanishes
 * without closing is noticed by keepalive: probes after 10 s of silence, every 5 s, 4 unanswered
 * ones end the connection (about 30 s; Linux's default waits two hours). A peer that is only busy
 * (a long prefill) still answers them: its kernel does. */
static void net_tune(int fd)
{
	int one = 1, idle = 10, interval = 5, count = 4;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
#ifdef TCP_KEEPIDLE
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
#else
	(void)idle;
	(void)interval;
	(void)count;
#endif
}

/* ---- the handshake ------------------------------------------------------------------------------ */

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* Every number of the configuration (not the display name): equal hashes, the same network. */
static uint32_t config_hash(const struct ds_config *c)
{
	const int ints[] = {
		c->vocab_size, c->hidden_size, c->intermediate_size, c->moe_intermediate_size,
		c->num_hidden_layers, c->num_attention_heads, c->n_shared_experts, c->n_routed_experts,
		c->num_experts_per_tok, (int)c->topk_method, c->n_group, c->topk_group, c->norm_topk_prob,
		c->first_k_dense_replace, c->moe_layer_freq, c->q_lora_rank, c->kv_lora_rank,
		c->qk_nope_head_dim, c->qk_rope_head_dim, c->v_head_dim, c->max_position_embeddings, c->yarn,
		c->yarn_original_max_position, c->bos_token_id, c->eos_token_id,
	};
	const float floats[] = {
		c->routed_scaling_factor, c->rms_norm_eps, c->rope_theta, c->yarn_factor, c->yarn_beta_fast,
		c->yarn_beta_slow, c->yarn_mscale, c->yarn_mscale_all_dim,
	};
	return fnv(fnv(2166136261u, ints, sizeof ints), floats, sizeof floats);
}

static void desc_make(const struct ds_config *c, int n_nodes, int n_ctx, uint32_t *d)
{
	d[DESC_VERSION] = NET_VERSION;
	d[DESC_NODES] = (uint32_t)n_nodes;
	d[DESC_CTX] = (uint32_t)n_ctx;
	d[DESC_VOCAB] = (uint32_t)c->vocab_size;
	d[DESC_HIDDEN] = (uint32_t)c->hidden_size;
	d[DESC_LAYERS] = (uint32_t)c->num_hidden_layers;
	d[DESC_HEADS] = (uint32_t)c->num_attention_heads;
	d[DESC_EXPERTS] = (uint32_t)c->n_routed_experts;
	d[DESC_CONFIG_HASH] = config_hash(c);
}

/* Does node's description agree with rank 0's? If not, why (one sentence, the same on both sides).
 * A follower's context 0 means "rank 0's". */
static int desc_check(const uint32_t *r0, const uint32_t *d, int node, char *why, size_t len)
{
	static const struct { int word; const char *name; } model[] = {
		{ DESC_VOCAB, "vocabulary" }, { DESC_HIDDEN, "hidden size" }, { DESC_LAYERS, "layers" },
		{ DESC_HEADS, "attention heads" }, { DESC_EXPERTS, "routed experts" },
	};
	if (d[DESC_VERSION] != r0[DESC_VERSION])
		return errorf(why, len, "node %d runs another version of dscoder-engine than rank 0 (or another "
			      "byte order); start every node with the same build", node);
	if (d[DESC_NODES] != r0[DESC_NODES])
		return errorf(why, len, "node %d was started with --nodes %u but rank 0 with --nodes %u; give "
			      "every node the same --nodes", node, d[DESC_NODES], r0[DESC_NODES]);
	for (size_t i = 0; i < sizeof model / sizeof model[0]; i++)
		if (d[model[i].word] != r0[model[i].word])
			return errorf(why, len, "node %d has another model than rank 0 (%s %u, rank 0 %u); give every "
				      "node the same --model", node, model[i].name, d[model[i].word], r0[model[i].word]);
	if (d[DESC_CONFIG_HASH] != r0[DESC_CONFIG_HASH])
		return errorf(why, len, "node %d has another model configuration than rank 0; give every node the "
			      "same --model", node);
	if (d[DESC_CTX] != 0 && d[DESC_CTX] != r0[DESC_CTX])
		return errorf(why, len, "node %d was started with --ctx %u but rank 0 runs a context of %u tokens; "
			      "leave --ctx out on the other nodes (they take rank 0's)", node, d[DESC_CTX],
			      r0[DESC_CTX]);
	return 0;
}

/* ---- rank 0 ------------------------------------------------------------------------------------- */

/* Inside ds_forward on rank 0: every follower makes the same call. */
static void net_launch(void *arg, const int *tokens, int n, int pos)
{
	struct ds_net *net = arg;
	size_t bytes = 3 * sizeof(uint32_t) + (size_t)n * sizeof *tokens;
	uint32_t *msg = (uint32_t *)net_io(net, bytes);
	msg[0] = OP_CALL;
	msg[1] = (uint32_t)n;
	msg[2] = (uint32_t)pos;
	memcpy(msg + 3, tokens, (size_t)n * sizeof *tokens);
	for (int r = 1; r < net->n_nodes; r++)
		if (net_send(net->fds[r], msg, bytes) != 0)
			net_lost(net, "node %d disconnected during a forward pass", r);
}

/* Rank 0's all-reduce: buf += node 1's part, then node 2's, ...: per element the same additions in
 * the same order as engine/simulate.c's sum, hence the same bits; then the sum goes back out. */
static void net_allreduce_root(void *arg, void *bctx, float *buf, size_t n)
{
	struct ds_net *net = arg;
	(void)bctx;              /* CPU buffers */
	size_t bytes = sizeof(uint64_t) + n * sizeof *buf;
	unsigned char *in = net_io(net, bytes);
	for (int r = 1; r < net->n_nodes; r++) {
		uint64_t count;
		if (net_recv(net->fds[r], in, bytes, -1) != 0)
			net_lost(net, "node %d disconnected during a forward pass", r);
		memcpy(&count, in, sizeof count);
		if (count != n)
			net_lost(net, "node %d is out of step with rank 0 (it sums %llu values, rank 0 %zu)", r,
				 (unsigned long long)count, n);
		const float *part = (const float *)(in + sizeof count);
		for (size_t i = 0; i < n; i++)
			buf[i] += part[i];
	}
	for (int r = 1; r < net->n_nodes; r++)
		if (net_send(net->fds[r], buf, n * sizeof *buf) != 0)
			net_lost(net, "node %d disconnected during a forward pass", r);
}

/* When the ranks end (ds_state_free on rank 0's state, or a failed start): followers quit. */
static void net_done(void *arg)
{
	struct ds_net *net = arg;
	for (int r = 0; r < net->n_nodes; r++) {
		if (net->fds[r] < 0)
			continue;
		if (net->running && net->rank == 0) {
			uint32_t quit[3] = { OP_QUIT, 0, 0 };
			(void)net_send(net->fds[r], quit, sizeof quit);     /* one already gone needs no goodbye */
		}
		close(net->fds[r]);
	}
	free(net->fds);
	free(net->args);
	free(net->io);
	free(net);
}

static struct ds_net *net_new(const struct ds_net_opts *o)
{
	struct ds_net *net = xcalloc(1, sizeof *net);
	net->n_nodes = o->n_nodes;
	net->rank = o->node_rank;
	net->fds = xmalloc((size_t)o->n_nodes * sizeof *net->fds);
	net->args = xmalloc((size_t)o->n_nodes * sizeof *net->args);
	for (int r = 0; r < o->n_nodes; r++) {
		net->fds[r] = -1;
		net->args[r] = net;
	}
	net->lost = o->lost;
	net->lost_arg = o->lost_arg;
	return net;
}

/* Rank 0 after the rendezvous: every follower's answer, checked. Returns -1 with err set. */
static int root_gather(struct ds_net *net, const uint32_t *desc, int timeout_ms, char *err, size_t errlen)
{
	long long deadline = now_ms() + timeout_ms;
	for (int r = 1; r < net->n_nodes; r++) {
		uint32_t d[DESC_WORDS + 2];
		char why[NET_WHY_MAX + 1];
		int rc = net_recv(net->fds[r], d, sizeof d, deadline);
		if (rc != 0)
			return errorf(err, errlen, "node %d %s before the run started", r,
				      rc > 0 ? "disconnected" : "did not get ready in time");
		if (desc_check(desc, d, r, err, errlen) != 0)
			return -1;
		if (d[DESC_WORDS] != 0) {
			uint32_t len = d[DESC_WORDS + 1] < NET_WHY_MAX ? d[DESC_WORDS + 1] : NET_WHY_MAX;
			if (net_recv(net->fds[r], why, len, deadline) != 0)
				len = 0;
			why[len] = '\0';
			return errorf(err, errlen, "node %d could not start: %s", r, len ? why : "no reason given");
		}
	}
	return 0;
}

/* Tells every follower whether the run starts (0) or not (1). */
static void root_go(struct ds_net *net, uint32_t go)
{
	for (int r = 1; r < net->n_nodes; r++)
		if (net->fds[r] >= 0)
			(void)net_send(net->fds[r], &go, sizeof go);      /* a lost one shows in the first call */
}

int ds_net_replace_state(const struct ds_model *full, struct ds_state **state, const struct ds_net_opts *o,
			 char *err, size_t errlen)
{
	int n_ctx = o->n_ctx > 0 ? o->n_ctx : ds_state_n_ctx(*state);
	struct ds_net *net = net_new(o);
	struct ds_rank_env env = {
		.allreduce = net_allreduce_root, .rank_args = net->args, .done = net_done, .arg = net,
		.remote = true, .local_rank = 0, .launch = net_launch,
	};
	struct ds_sim *sim = ds_ranks_new(full, o->n_nodes, n_ctx, o->n_threads, &env, err, errlen);
	if (sim == NULL)
		return -1;         /* net_done has run */
	uint32_t desc[DESC_WORDS];
	desc_make(&full->cfg, o->n_nodes, n_ctx, desc);
	int rc = 0;
	if (o->n_nodes > 1) {
		struct ds_rdv *rdv = ds_rdv_listen(o->host, o->port, err, errlen);
		int *fds = xmalloc((size_t)o->n_nodes * sizeof *fds);
		rc = rdv == NULL ? -1 : ds_rdv_serve_keep(rdv, o->n_nodes - 1, desc, sizeof desc, o->timeout_ms, fds,
							  err, errlen);
		ds_rdv_close(rdv);     /* nobody else may join once the run is complete */
		if (rc == 0) {
			for (int r = 1; r < o->n_nodes; r++) {
				net->fds[r] = fds[r];
				net_tune(fds[r]);
			}
			rc = root_gather(net, desc, o->timeout_ms, err, errlen);
			root_go(net, rc == 0 ? 0 : 1);
		}
		free(fds);
	}
	if (rc != 0) {
		ds_sim_free(sim);      /* net_done closes the connections */
		return -1;
	}
	net->running = true;
	ds_state_free(*state);
	*state = ds_sim_state(sim);
	return 0;
}

/* ---- followers ---------------------------------------------------------------------------------- */

/* A follower's all-reduce: its part out to rank 0, the sum back into buf. */
static void net_allreduce_follower(void *arg, void *bctx, float *buf, size_t n)
{
	struct ds_net *net = arg;
	(void)bctx;
	uint64_t count = n;
	size_t bytes = sizeof count + n * sizeof *buf;
	unsigned char *out = net_io(net, bytes);
	memcpy(out, &count, sizeof count);
	memcpy(out + sizeof count, buf, n * sizeof *buf);
	if (net_send(net->fds[0], out, bytes) != 0 || net_recv(net->fds[0], buf, n * sizeof *buf, -1) != 0)
		net_lost(net, "node %d: rank 0 disconnected during a forward pass", net->rank);
}

/* The follower's answer to rank 0's description: its own, and whether it is ready (why not). */
static int follower_answer(int fd, const uint32_t *desc, const char *why)
{
	uint32_t d[DESC_WORDS + 2];
	size_t len = why != NULL ? strlen(why) : 0;
	if (len > NET_WHY_MAX)
		len = NET_WHY_MAX;
	memcpy(d, desc, DESC_WORDS * sizeof *d);
	d[DESC_WORDS] = why != NULL;
	d[DESC_WORDS + 1] = (uint32_t)len;
	if (net_send(fd, d, sizeof d) != 0 || (len > 0 && net_send(fd, why, len) != 0))
		return -1;
	return 0;
}

/* Rank 0's forward calls, until it quits. Returns 0, or -1 with err set. */
static int follower_loop(struct ds_net *net, struct ds_state *state, char *err, size_t errlen)
{
	int n_ctx = ds_state_n_ctx(state);
	int *tokens = xmalloc((size_t)n_ctx * sizeof *tokens);
	int rc = 0;
	for (;;) {
		uint32_t h[3];
		int got = net_recv(net->fds[0], h, sizeof h, -1);
		if (got > 0 || (got == 0 && h[0] == OP_QUIT))
			break;         /* rank 0 is done (or gone between calls: nothing is left half-way) */
		if (got < 0) {
			rc = errorf(err, errlen, "node %d lost its connection to rank 0 between forward calls", net->rank);
			break;
		}
		if (h[0] != OP_CALL || h[1] < 1 || h[1] > (uint32_t)n_ctx) {
			rc = errorf(err, errlen, "node %d got a message it does not know from rank 0 (op %u, %u tokens)",
				    net->rank, h[0], h[1]);
			break;
		}
		if (net_recv(net->fds[0], tokens, h[1] * sizeof *tokens, -1) != 0)
			net_lost(net, "node %d: rank 0 disconnected during a forward pass", net->rank);
		/* rank 0 checked the same call on the same context: a refusal means the runs diverged */
		if (ds_forward(state, tokens, (int)h[1], (int)h[2], NULL, false) != 0) {
			rc = errorf(err, errlen, "node %d could not run rank 0's forward call (%u tokens at position %u)",
				    net->rank, h[1], h[2]);
			break;
		}
	}
	free(tokens);
	return rc;
}

int ds_net_follow(const struct ds_model *full, const struct ds_net_opts *o, char *err, size_t errlen)
{
	uint32_t desc[DESC_WORDS], mine[DESC_WORDS];
	int fd;
	if (ds_rdv_join_keep(o->host, o->port, o->node_rank, desc, sizeof desc, o->timeout_ms, &fd, err,
			     errlen) != 0)
		return -1;
	net_tune(fd);
	desc_make(&full->cfg, o->n_nodes, o->n_ctx, mine);
	if (desc_check(desc, mine, o->node_rank, err, errlen) != 0) {
		(void)follower_answer(fd, mine, err);     /* rank 0 says the same sentence */
		close(fd);
		return -1;
	}
	struct ds_net *net = net_new(o);
	struct ds_rank_env env = {
		.allreduce = net_allreduce_follower, .rank_args = net->args, .done = net_done, .arg = net,
		.remote = true, .local_rank = o->node_rank,
	};
	/* rank 0's context, which every rank's cache must hold */
	struct ds_sim *sim = ds_ranks_new(full, o->n_nodes, (int)desc[DESC_CTX], o->n_threads, &env, err, errlen);
	if (sim == NULL) {           /* net_done has run; the connection is still ours */
		(void)follower_answer(fd, mine, err);
		close(fd);
		return -1;
	}
	net->fds[0] = fd;            /* closed with the ranks from here on */
	uint32_t go = 1;
	/* rank 0 waits for the slowest of the others to get ready, each within the same time */
	long long deadline = now_ms() + 2LL * o->timeout_ms;
	if (follower_answer(fd, mine, NULL) != 0 || net_recv(fd, &go, sizeof go, deadline) != 0) {
		ds_sim_free(sim);
		return errorf(err, errlen, "node %d lost rank 0 before the run started", o->node_rank);
	}
	if (go != 0) {
		ds_sim_free(sim);
		return errorf(err, errlen, "node %d: rank 0 did not start the run (its error says why)", o->node_rank);
	}
	int rc = follower_loop(net, ds_sim_state(sim), err, errlen);
	ds_sim_free(sim);
	return rc;
}
