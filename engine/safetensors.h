/* safetensors.h: one .safetensors file mapped read-only, with its header parsed and every tensor's
 * byte range checked against the file. */
#ifndef DS_SAFETENSORS_H
#define DS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

/* Every element type the safetensors format names; ST_OTHER for a name it does not (yet) have. */
enum st_dtype {
	ST_BOOL, ST_U8, ST_I8, ST_I16, ST_U16, ST_F16, ST_BF16, ST_I32, ST_U32, ST_F32,
	ST_F64, ST_I64, ST_U64, ST_F8_E4M3, ST_F8_E5M2, ST_OTHER
};

#define ST_MAX_DIMS 8

struct st_tensor {
	char *name;
	char dtype_name[16];     /* as written in the header, for messages */
	enum st_dtype dtype;
	int n_dims;
	int64_t shape[ST_MAX_DIMS];
	uint64_t nbytes;
	const void *data;        /* inside the mapping; only valid while the file is open */
};

struct st_file {
	char *path;
	void *addr;              /* the whole file, PROT_READ, MAP_PRIVATE */
	size_t size;
	struct st_tensor *tensors;   /* sorted by name */
	size_t n_tensors;
};

/* Opens and maps path, parses the header (ignoring "__metadata__") and checks that each tensor's
 * data_offsets lie inside the data area and match its shape and dtype (for the dtypes whose size
 * is known). On error returns -1 with one sentence in err naming the file (and tensor) and f holds
 * nothing; on success the caller releases f with st_close. */
int st_open(const char *path, struct st_file *f, char *err, size_t errlen);

/* Unmaps the file (unless st_detach took the mapping) and frees the parsed header. */
void st_close(struct st_file *f);

/* Hands the mapping over to the caller (who munmaps it later) and frees the parsed header: tensor
 * data pointers obtained before stay valid as long as the caller keeps the mapping. */
void st_detach(struct st_file *f, void **addr, size_t *size);

/* The tensor called name, or NULL. */
const struct st_tensor *st_find(const struct st_file *f, const char *name);

/* Bytes per element, 0 for ST_OTHER. */
size_t st_dtype_size(enum st_dtype t);

/* Formats shape as "[64, 32]" into buf. */
void st_format_shape(const int64_t *shape, int n_dims, char *buf, size_t len);

#endif
