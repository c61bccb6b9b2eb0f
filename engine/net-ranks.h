/* net-ranks.h: --nodes N: the ranks of engine/simulate.h in N processes (one per node, the CPU backend),
 * joined over TCP in a star: rank 0 runs the engine and hands each forward call to the others, and
 * sums every all-reduce in rank order, so the bits equal those of --simulate-ranks N. */
#ifndef DS_NET_RANKS_H
#define DS_NET_RANKS_H

#include <stddef.h>

#include "forward.h"
#include "model.h"

struct ds_net_opts {
	int n_nodes;                /* processes, one rank each */
	int node_rank;              /* this process: 0 runs the engine, 1..n_nodes-1 follow */
	const char *host;           /* rank 0's address: where it listens and the others connect */
	int port;
	int n_ctx;                  /* rank 0: the context of its state; followers: 0 (rank 0's) or the
				     * context they insist on (a mismatch is refused) */
	int n_threads;              /* CPU threads of this process (0: all cores) */
	int timeout_ms;             /* how long the processes wait for each other at start-up */
	/* A peer lost in the middle of a run (the forward pass cannot fail): called with one sentence
	 * ("node 2 disconnected during a forward pass"), then the process exits with status 1. NULL:
	 * the sentence goes to stderr. */
	void (*lost)(void *arg, const char *sentence);
	void *lost_arg;
};

/* Rank 0: listens on o->host:o->port, waits (up to o->timeout_ms) for the other processes, checks that
 * they run the same model, node count and context, and replaces *state (made on full; freed here) by
 * rank 0 of the split model with a context of o->n_ctx (0: *state's). ds_state_free on the new state
 * tells the others to quit and closes the connections. Returns -1 with one sentence in err and *state
 * untouched when the run cannot start (the other processes are told so). */
int ds_net_replace_state(const struct ds_model *full, struct ds_state **state, const struct ds_net_opts *o,
			 char *err, size_t errlen);

/* A follower (o->node_rank >= 1): connects to rank 0 (retrying until o->timeout_ms), builds only its own
 * shard of full, then repeats rank 0's forward calls and joins its all-reduces until rank 0 quits or
 * goes away between calls: then returns 0. Returns -1 with one sentence in err when the run could not
 * start; a rank 0 lost in the middle of a call goes through o->lost. */
int ds_net_follow(const struct ds_model *full, const struct ds_net_opts *o, char *err, size_t errlen);

#endif
