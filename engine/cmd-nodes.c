/* cmd-nodes.c: --nodes N --node-rank R --rendezvous HOST:PORT on the command line: rank 0 splits the
 * verbs' model over N processes (engine/net-ranks.h); the others follow it and print nothing. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine-cli.h"
#include "forward.h"
#include "generate.h"
#include "net-ranks.h"
#include "protocol.h"
#include "xalloc.h"

#define ERR_LEN 1024

/* A node lost mid-run: the one line on stderr, and for the pipe service also an error event, written
 * with one write() (the service's other writer could be answering a count: a line this short is not
 * split). The process exits right after. */
static void nodes_lost(void *arg, const char *sentence)
{
	const struct cli_args *a = arg;
	if (a->node_rank == 0 && a->verb == VERB_NONE) {
		struct ds_proto_event ev = { .type = DS_EV_ERROR, .message = (char *)sentence };
		size_t len;
		char *line = ds_proto_encode_event(&ev, &len);
		(void)!write(STDOUT_FILENO, line, len);
		free(line);
	}
	cli_fail("%s", sentence);
}

static void nodes_opts(const struct cli_args *a, int n_ctx, struct ds_net_opts *o)
{
	*o = (struct ds_net_opts){
		.n_nodes = a->nodes, .node_rank = a->node_rank, .host = a->rdv_host, .port = a->rdv_port,
		.n_ctx = n_ctx, .n_threads = a->threads, .timeout_ms = a->rdv_timeout_s * 1000,
		.lost = nodes_lost, .lost_arg = (void *)a,
	};
}

int cli_nodes_place(const struct cli_args *a, const struct ds_model *m, struct ds_state **state, int n_ctx,
		    char *err, size_t errlen)
{
	struct ds_net_opts o;
	char why[ERR_LEN];

	nodes_opts(a, n_ctx, &o);
	if (ds_net_replace_state(m, state, &o, why, sizeof why) != 0) {
		snprintf(err, errlen, "--nodes %d: %s", a->nodes, why);
		return -1;
	}
	/* the moment the run starts, for whoever watches several processes come together */
	if (a->nodes > 1)
		fprintf(stderr, "dscoder-engine: all %d nodes joined at %s\n", a->nodes, a->rendezvous);
	return 0;
}

int cli_follow(const struct cli_args *a)
{
	struct ds_model m;
	struct ds_net_opts o;
	char err[ERR_LEN];

	if (ds_model_dir_check(a->model, err, sizeof err) != 0 ||
	    ds_model_load(a->model, &m, NULL, NULL, err, sizeof err) != 0)
		return cli_fail("%s", err);
	nodes_opts(a, a->n_ctx, &o);
	int rc = ds_net_follow(&m, &o, err, sizeof err);
	ds_model_free(&m);
	return rc == 0 ? 0 : cli_fail("%s", err);
}
