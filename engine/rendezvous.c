/* rendezvous.c: the TCP meeting of a multi-node run. A joining process sends a 16-byte hello (magic,
 * its index, the blob size it expects, all big-endian); rank 0 answers with a status word and, if the
 * status is 0, the blob. Plain blocking sockets with poll() deadlines: it runs once, at start-up. */
#include "build-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rendezvous.h"
#include "xalloc.h"

static const char rdv_magic[8] = { 'D', 'S', 'C', 'R', 'D', 'V', '0', '1' };

enum { RDV_OK = 0, RDV_BAD_INDEX = 1, RDV_DUPLICATE = 2, RDV_BAD_SIZE = 3, RDV_BAD_HELLO = 4 };

struct ds_rdv {
	int fd;
	int port;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads or writes exactly n bytes before the deadline; -1 on error, end of stream or time out. */
static int io_full(int fd, void *buf, size_t n, bool writing, long long deadline)
{
	char *p = buf;
	while (n > 0) {
		int left = (int)(deadline - now_ms());
		if (left <= 0)
			return -1;
		struct pollfd pf = { .fd = fd, .events = writing ? POLLOUT : POLLIN };
		int pr = poll(&pf, 1, left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -1;
		ssize_t got = writing ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return -1;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Connecting on this machine to a port in the ephemeral range that nobody listens on can pick that same
 * port as the source: TCP's simultaneous open then joins the socket to itself. Such a connection is
 * treated as refused (rank 0 is not there yet). */
static bool connected_to_self(int fd)
{
	struct sockaddr_storage me, peer;
	socklen_t ml = sizeof me, pl = sizeof peer;
	if (getsockname(fd, (struct sockaddr *)&me, &ml) != 0 || getpeername(fd, (struct sockaddr *)&peer, &pl) != 0)
		return false;
	return ml == pl && memcmp(&me, &peer, ml) == 0;
}

struct ds_rdv *ds_rdv_listen(const char *host, int port, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	char ps[16];
	snprintf(ps, sizeof ps, "%d", port);
	int rc = getaddrinfo(host, ps, &hints, &res);
	if (rc != 0) {
		errorf(err, errlen, "rendezvous address %s:%d: %s", host ? host : "*", port, gai_strerror(rc));
		return NULL;
	}
	int fd = -1, e = 0;
	for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 64) != 0) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		errorf(err, errlen, "cannot listen for the other ranks on %s:%d: %s", host ? host : "*", port, strerror(e));
		return NULL;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	struct ds_rdv *r = xcalloc(1, sizeof *r);
	r->fd = fd;
	r->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
		: ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return r;
}

int ds_rdv_port(const struct ds_rdv *r)
{
	return r->port;
}

void ds_rdv_close(struct ds_rdv *r)
{
	if (r == NULL)
		return;
	close(r->fd);
	free(r);
}

int ds_rdv_serve(struct ds_rdv *r, int n_peers, const void *blob, size_t len, int timeout_ms, char *err,
		 size_t errlen)
{
	return ds_rdv_serve_keep(r, n_peers, blob, len, timeout_ms, NULL, err, errlen);
}

int ds_rdv_serve_keep(struct ds_rdv *r, int n_peers, const void *blob, size_t len, int timeout_ms, int *fds,
		      char *err, size_t errlen)
{
	long long deadline = now_ms() + timeout_ms;
	bool *seen = xcalloc((size_t)n_peers + 1, sizeof *seen);
	int served = 0, refused = 0;
	char why[160] = "";
	while (served + refused < n_peers) {
		int left = (int)(deadline - now_ms());
		struct pollfd pf = { .fd = r->fd, .events = POLLIN };
		if (left <= 0 || poll(&pf, 1, left) <= 0) {
			if (left > 0 && errno == EINTR)
				continue;
			break;
		}
		int c = accept(r->fd, NULL, NULL);
		if (c < 0)
			continue;
		unsigned char hello[16], reply[12];
		uint32_t status = RDV_OK, idx = 0;
		/* a connection that says nothing does not hold the others up for long */
		long long hello_by = now_ms() + 2000 < deadline ? now_ms() + 2000 : deadline;
		if (io_full(c, hello, sizeof hello, false, hello_by) != 0 || memcmp(hello, rdv_magic, 8) != 0) {
			status = RDV_BAD_HELLO;
		} else {
			idx = get32(hello + 8);
			if (idx < 1 || idx > (uint32_t)n_peers)
				status = RDV_BAD_INDEX;
			else if (seen[idx])
				status = RDV_DUPLICATE;
			else if (get32(hello + 12) != (uint32_t)len)
				status = RDV_BAD_SIZE;
		}
		memcpy(reply, rdv_magic, 8);
		put32(reply + 8, status);
		bool ok = io_full(c, reply, sizeof reply, true, deadline) == 0 &&
			  (status != RDV_OK || io_full(c, (void *)blob, len, true, deadline) == 0);
		if (status == RDV_OK && ok && fds != NULL)
			fds[idx] = c;         /* the caller's now */
		else
			close(c);
		if (status == RDV_OK && ok) {
			seen[idx] = true;
			served++;
		} else if (status != RDV_BAD_HELLO) {
			/* a stray connection (a port scan) is ignored; a rank that was refused is a failure */
			refused++;
			if (why[0] == '\0')
				snprintf(why, sizeof why, status == RDV_BAD_INDEX ? "a process said it was number %u, "
					 "outside 1..%d" : status == RDV_DUPLICATE ? "process %u came twice" :
					 status == RDV_BAD_SIZE ? "process %u expects another id size" :
					 "process %u did not take the id", idx, n_peers);
		}
	}
	int rc = 0;
	if (served < n_peers) {
		char missing[256] = "";
		size_t m = 0;
		for (int i = 1; i <= n_peers && m + 16 < sizeof missing; i++)
			if (!seen[i])
				m += (size_t)snprintf(missing + m, sizeof missing - m, m ? ", %d" : "%d", i);
		rc = errorf(err, errlen, "rendezvous: %d of %d processes got the id (%s%smissing: %s)", served, n_peers,
			    why, why[0] ? "; " : "", missing);
	}
	if (rc != 0 && fds != NULL)
		for (int i = 1; i <= n_peers; i++)
			if (seen[i])
				close(fds[i]);
	free(seen);
	return rc;
}

int ds_rdv_join(const char *host, int port, int index, void *blob, size_t len, int timeout_ms, char *err,
		size_t errlen)
{
	return ds_rdv_join_keep(host, port, index, blob, len, timeout_ms, NULL, err, errlen);
}

int ds_rdv_join_keep(const char *host, int port, int index, void *blob, size_t len, int timeout_ms, int *fd_out,
		     char *err, size_t errlen)
{
	long long deadline = now_ms() + timeout_ms;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char ps[16];
	snprintf(ps, sizeof ps, "%d", port);
	int rc = getaddrinfo(host, ps, &hints, &res);
	if (rc != 0)
		return errorf(err, errlen, "rendezvous address %s:%d: %s", host, port, gai_strerror(rc));
	int fd = -1, e = ECONNREFUSED;
	/* rank 0 may not listen yet: try again every 100 ms until the deadline */
	while (fd < 0 && now_ms() < deadline) {
		for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
			fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
			if (fd < 0) {
				e = errno;
				continue;
			}
			if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
				e = errno;
				close(fd);
				fd = -1;
			} else if (connected_to_self(fd)) {
				e = ECONNREFUSED;
				close(fd);
				fd = -1;
			}
		}
		if (fd < 0) {
			struct timespec ts = { 0, 100 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return errorf(err, errlen, "process %d cannot reach rank 0 at %s:%d: %s", index, host, port, strerror(e));
	unsigned char hello[16], reply[12];
	memcpy(hello, rdv_magic, 8);
	put32(hello + 8, (uint32_t)index);
	put32(hello + 12, (uint32_t)len);
	if (io_full(fd, hello, sizeof hello, true, deadline) != 0 || io_full(fd, reply, sizeof reply, false, deadline) != 0 ||
	    memcmp(reply, rdv_magic, 8) != 0) {
		close(fd);
		return errorf(err, errlen, "process %d: %s:%d did not answer as a dscoder-engine rank 0", index, host, port);
	}
	uint32_t status = get32(reply + 8);
	if (status != RDV_OK) {
		close(fd);
		return errorf(err, errlen, "process %d: rank 0 at %s:%d refused it: %s", index, host, port,
			      status == RDV_BAD_INDEX ? "its number is outside the run's" :
			      status == RDV_DUPLICATE ? "another process has the same number" :
			      status == RDV_BAD_SIZE ? "the id size differs (another version?)" : "bad hello");
	}
	rc = io_full(fd, blob, len, false, deadline);
	if (rc != 0 || fd_out == NULL)
		close(fd);
	if (rc != 0)
		return errorf(err, errlen, "process %d: the id from %s:%d was cut short", index, host, port);
	if (fd_out != NULL)
		*fd_out = fd;
	return 0;
}
