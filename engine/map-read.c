/* map-read.c: reading a model file's mapping in at load. When the weights fit easily in memory, the
 * file is copied into anonymous memory on transparent huge pages, which then takes the mapping's
 * place at the same address (mremap), so every pointer into it stays valid. Why: a file mapping is
 * made of 4 KB pages, one TLB entry per 4 KB; an expert's matrices span thousands of them, and the
 * page walks stalled the CPU kernels' weight loads (on a 4-layer Coder-V2-Lite, BF16, 2 threads:
 * decode 33-35 -> 41-42 tokens/s, the prompt 194-204 -> 230-305 tokens/s from a file on huge pages).
 * Otherwise the file is read in place (MADV_POPULATE_READ), or left to page in on use. */
#include "build-config.h"   /* _GNU_SOURCE: mremap */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model.h"

#define HUGE_PAGE (2UL << 20)

/* Is read-ahead of total bytes worth asking for? Only when the weights fit easily in RAM: otherwise
 * read-ahead only evicts what it read before (a CPU run of a model larger than memory streams the
 * weights from disk on every token anyway). */
static bool want_readahead(uint64_t total)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

	return pages > 0 && page > 0 && total < (uint64_t)pages * (uint64_t)page / 2;
}

/* Does the kernel give anonymous memory huge pages when asked (THP "always" or "madvise")? */
static bool huge_pages_available(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (f == NULL)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, "[always]") != NULL || strstr(buf, "[madvise]") != NULL;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22   /* Linux 5.14; headers older than the kernel may lack it */
#endif

/* Reads len bytes of a read-only file mapping at addr in now, page tables included
 * (MADV_POPULATE_READ, Linux 5.14; older kernels: read-ahead only), when the model takes at most half of
 * the memory (total bytes): the first prompt then pays no page faults. A model that does not fit so is
 * left to page in on use. */
static void map_prefetch(const void *addr, size_t len, uint64_t total)
{
	static int populate_works = 1;

	if (!want_readahead(total) || len == 0)
		return;
	/* madvise wants a page-aligned start */
	uintptr_t a = (uintptr_t)addr, start = a & ~(uintptr_t)4095;
	len += a - start;
	if (populate_works && madvise((void *)start, len, MADV_POPULATE_READ) == 0)
		return;
	if (errno == EINVAL)
		populate_works = 0;
	madvise((void *)start, len, MADV_WILLNEED);
}

static bool keep_file_mappings;

void ds_map_keep_file_mappings(bool keep)
{
	keep_file_mappings = keep;
}

void ds_map_reader_start(struct ds_map_reader *r, const char *path, void *base, size_t size, uint64_t total)
{
	const char *how = getenv("DSCODER_WEIGHTS");

	memset(r, 0, sizeof *r);
	r->base = base;
	r->size = size;
	r->total = total;
	r->fd = -1;
	if (base == NULL || size < HUGE_PAGE || !want_readahead(total) || !huge_pages_available() ||
	    keep_file_mappings || (how != NULL && strcmp(how, "mmap") == 0))
		return;
	/* the twin lies at the same offset from a 2 MB boundary as base, so that its huge pages land
	 * whole on base's 2 MB boundaries when it is moved there */
	size_t span = size + HUGE_PAGE;
	char *res = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return;
	uintptr_t want = (uintptr_t)base & (HUGE_PAGE - 1), at = (uintptr_t)res;
	uintptr_t twin = (at & ~(uintptr_t)(HUGE_PAGE - 1)) + want;
	if (twin < at)
		twin += HUGE_PAGE;
	/* give back what lies outside the twin */
	if (twin > at)
		munmap(res, twin - at);
	size_t tail = (at + span) - (twin + size);
	if (tail > 0)
		munmap((char *)(twin + size), tail);
	madvise((void *)twin, size, MADV_HUGEPAGE);
	r->twin = (char *)twin;
	/* read() copies from the page cache straight into the twin: through the file mapping, each 4 KB
	 * page would fault first (several seconds for a few GB on a virtual machine) */
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
}

void ds_map_reader_step(struct ds_map_reader *r, size_t off, size_t len)
{
	if (r->twin == NULL) {
		map_prefetch(r->base + off, len, r->total);
		return;
	}
	size_t done = 0;
	while (r->fd >= 0 && done < len) {
		ssize_t n = pread(r->fd, r->twin + off + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	/* no descriptor, or a read that fell short: the rest through the mapping */
	if (done < len)
		memcpy(r->twin + off + done, r->base + off + done, len - done);
}

int ds_map_reader_finish(struct ds_map_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->twin == NULL)
		return 0;
	/* read-only from now on, as the file mapping was: a stray write is a crash, not a wrong weight */
	void *moved = mprotect(r->twin, r->size, PROT_READ) == 0 ?
		      mremap(r->twin, r->size, r->size, MREMAP_MAYMOVE | MREMAP_FIXED, r->base) : MAP_FAILED;
	if (moved == MAP_FAILED) {
		/* the file mapping is still there and read in: it serves, on small pages */
		munmap(r->twin, r->size);
		r->twin = NULL;
		return 0;
	}
	r->twin = NULL;
	return 1;
}
