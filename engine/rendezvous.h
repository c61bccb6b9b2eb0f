/* rendezvous.h: how the processes of a multi-node run meet: rank 0 hands the NCCL unique id (any small
 * blob: the TCP ranks of net-ranks.h send the run's description) over TCP to every other process,
 * which connects to rank 0's address and port. */
#ifndef DS_RENDEZVOUS_H
#define DS_RENDEZVOUS_H

#include <stddef.h>

struct ds_rdv;

/* Rank 0: listens on host:port (host NULL: every address; port 0: any free port, see ds_rdv_port).
 * Returns NULL with a sentence in err when the address cannot be had. */
struct ds_rdv *ds_rdv_listen(const char *host, int port, char *err, size_t errlen);
int ds_rdv_port(const struct ds_rdv *r);

/* Rank 0: waits for the processes 1..n_peers to connect (each once), then sends each the len bytes of
 * blob. Gives up after timeout_ms in all, naming the processes that did not come. A process that
 * gives a number outside 1..n_peers, one already seen, or expects another blob size is refused (it
 * gets an error status) and counts as a failure. Returns 0 when every process got the blob. */
int ds_rdv_serve(struct ds_rdv *r, int n_peers, const void *blob, size_t len, int timeout_ms, char *err,
		 size_t errlen);
/* ds_rdv_serve that keeps the connections for the run (engine/net-ranks.h): fds[i] (fds has n_peers + 1
 * entries; [0] is not touched) gets process i's socket, which the caller closes. On failure every
 * socket is closed and fds means nothing. */
int ds_rdv_serve_keep(struct ds_rdv *r, int n_peers, const void *blob, size_t len, int timeout_ms, int *fds,
		      char *err, size_t errlen);
void ds_rdv_close(struct ds_rdv *r);

/* Process `index` (1..n_peers): connects to host:port, retrying until timeout_ms (rank 0 may start
 * later), says who it is and receives len bytes into blob. Returns -1 with a sentence in err. */
int ds_rdv_join(const char *host, int port, int index, void *blob, size_t len, int timeout_ms, char *err,
		size_t errlen);
/* ds_rdv_join that keeps the connection to rank 0 open in *fd (the caller's to close). */
int ds_rdv_join_keep(const char *host, int port, int index, void *blob, size_t len, int timeout_ms, int *fd,
		     char *err, size_t errlen);

#endif
