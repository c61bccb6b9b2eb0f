/* test-map-read.c: reading a model file's mapping in at load (engine/map-read.c): the bytes stay the
 * file's, at the same address; where the kernel has transparent huge pages the mapping becomes
 * anonymous and read-only, else (and with DSCODER_WEIGHTS=mmap or ds_map_keep_file_mappings) it stays
 * the file's; the region unmaps as a mapping does. */
#include "build-config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model.h"
#include "fixture-util.h"

#define SIZE ((6u << 20) + 123)

static unsigned char pattern(size_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

/* The /proc/self/maps line of the mapping that holds addr, in line. */
static int maps_line(const void *addr, char *line, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	uintptr_t a = (uintptr_t)addr;
	int found = 0;
	while (f != NULL && fgets(line, (int)len, f) != NULL) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi) {
			found = 1;
			break;
		}
	}
	if (f != NULL)
		fclose(f);
	return found;
}

static int thp_available(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, "[always]") != NULL || strstr(buf, "[madvise]") != NULL;
}

/* Maps path, reads it in with a reader in steps of 1 MB, checks the bytes; returns what finish said
 * and leaves the mapping's maps line in line. */
static int read_in(const char *path, char *line, size_t len)
{
	int fd = open(path, O_RDONLY);
	unsigned char *base = fd >= 0 ? mmap(NULL, SIZE, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	if (fd >= 0)
		close(fd);
	if (base == MAP_FAILED) {
		CHECK(0, "cannot map %s", path);
		return -1;
	}
	struct ds_map_reader rd;
	ds_map_reader_start(&rd, path, base, SIZE, SIZE);
	for (size_t off = 0; off < SIZE; off += 1u << 20)
		ds_map_reader_step(&rd, off, SIZE - off < (1u << 20) ? SIZE - off : 1u << 20);
	int moved = ds_map_reader_finish(&rd);
	size_t bad = 0;
	for (size_t i = 0; i < SIZE; i++)
		bad += base[i] != pattern(i);
	CHECK(bad == 0, "%zu bytes differ from the file after reading in (moved %d)", bad, moved);
	CHECK(maps_line(base, line, len), "no mapping at the file's address after reading in");
	CHECK(munmap(base, SIZE) == 0, "the region does not unmap");
	return moved;
}

int main(void)
{
	char path[] = "/tmp/test-map-read-XXXXXX", line[4096];
	int fd = mkstemp(path);
	if (fd < 0) {
		printf("FAIL: cannot make a file in /tmp\n");
		return 1;
	}
	unsigned char *buf = malloc(SIZE);
	for (size_t i = 0; i < SIZE; i++)
		buf[i] = pattern(i);
	CHECK(write(fd, buf, SIZE) == (ssize_t)SIZE, "write the file");
	close(fd);
	free(buf);

	/* default: on huge pages where the kernel has them; the address keeps the file's bytes */
	int moved = read_in(path, line, sizeof line);
	CHECK(moved == thp_available(), "moved to anonymous memory: %d, huge pages available: %d", moved,
	      thp_available());
	if (moved)
		CHECK(strstr(line, path) == NULL && strncmp(strchr(line, ' ') + 1, "r--p", 4) == 0,
		      "after the move the mapping is anonymous and read-only: %s", line);
	else
		CHECK(strstr(line, path) != NULL, "a mapping left in place is still the file's: %s", line);

	/* DSCODER_WEIGHTS=mmap and ds_map_keep_file_mappings keep the file mapping */
	setenv("DSCODER_WEIGHTS", "mmap", 1);
	CHECK(read_in(path, line, sizeof line) == 0 && strstr(line, path) != NULL,
	      "DSCODER_WEIGHTS=mmap left the file mapping: %s", line);
	unsetenv("DSCODER_WEIGHTS");
	ds_map_keep_file_mappings(true);
	CHECK(read_in(path, line, sizeof line) == 0 && strstr(line, path) != NULL,
	      "ds_map_keep_file_mappings(true) left the file mapping: %s", line);
	ds_map_keep_file_mappings(false);

	unlink(path);
	printf("%s\n", fix_failures ? "FAILED" : "map-read: all checks passed");
	return fix_failures ? 1 : 0;
}
