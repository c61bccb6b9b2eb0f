/* cpu-scratch.h: the buffers each thread of the CPU kernels keeps between calls, grown on demand and
 * freed when the thread ends. */
#ifndef DS_CPU_SCRATCH_H
#define DS_CPU_SCRATCH_H

#include <stddef.h>

/* One buffer per use, so that a kernel's buffer and that of a kernel it calls never alias. */
enum cpu_scratch_use {
	CPU_SCRATCH_ROW,          /* cpu_row_scratch: one row decoded to floats */
	CPU_SCRATCH_I8_PANEL,     /* int8 set: a panel of weight rows decoded to codes */
	CPU_SCRATCH_I8_ACT,       /* int8 set: activations rounded to int8 blocks */
	CPU_SCRATCH_B16_TOKENS,   /* bf16 set: decode's tokens rounded to BF16 */
	CPU_SCRATCH_B16_WORDS,    /* bf16 set: the product's activations as BF16 pairs */
	CPU_SCRATCH_B16_SUMS,     /* bf16 set: a row block's tile sums */
	CPU_SCRATCH_CAUSAL,       /* prefill attention: one head's keys */
	CPU_SCRATCH_PREFIX_KV,    /* prefill attention: one head's K and V of a block of earlier positions */
	CPU_SCRATCH_W_UK,         /* prefill attention: one head's W_UK from the split attn_k_b, as floats */
	CPU_SCRATCH_GEMM_SUMS,    /* float sets' matrix product: a row block's tile sums */
	CPU_SCRATCH_GEMM_X,       /* float sets' matrix product: packed activations */
	CPU_SCRATCH_QUANT_SUMS,   /* float sets' quantized decode: sums of activations its offsets and mins multiply */
	CPU_SCRATCH_QUANT_LANES,  /* float sets' quantized decode: activations in the kernels' lane order */
	CPU_SCRATCH_MOE_X,        /* prefill MoE: one expert's gathered tokens */
	CPU_SCRATCH_MOE_GU,       /* prefill MoE: its gate and up outputs */
	CPU_SCRATCH_FFN_PACK,     /* a SwiGLU on one thread (prefill MoE, token split): packed activations */
	CPU_SCRATCH_SPLIT_X,      /* a product split by tokens: one block's packed activations */
	CPU_SCRATCH_MLA_ROWS,     /* attention kernels: a block of BF16 cache rows widened to F32 */
	CPU_SCRATCH_PREFIX_ROWS,  /* prefill attention: a block of earlier BF16 cache rows widened */
	CPU_SCRATCH_MLA_QB16,     /* attention kernels on BF16 rows: the queries rounded to BF16 */
	CPU_SCRATCH_MLA_PB16,     /* attention kernels on BF16 rows: the softmax weights rounded to BF16 */
	CPU_SCRATCH_N
};

/* This thread's buffer for use, at least bytes long and aligned to 64 bytes. Its contents are not
 * kept when it grows. Out of memory, prints one line and aborts: a kernel has no way to fail. */
void *cpu_scratch(enum cpu_scratch_use use, size_t bytes);

/* bytes of memory for the CPU backend (free() releases it): 64-byte aligned, and from 1 MB on 2 MB
 * aligned and on transparent huge pages where the kernel gives them, so that first touching it
 * costs a page fault per 2 MB, not per 4 KB. A process's first prompt touches tens of MB of such
 * buffers, and page faults are dear in a virtual machine: here its first 512-token prompt on the
 * bench model (BF16, 2 threads) prefilled at 70-80% of the speed of the next ones. 6 alternating
 * single-round --bench runs: 288-351 -> 307-398 tokens/s; peak RSS 2811 -> 2838 MB. NULL when out
 * of memory. */
void *cpu_buffer_alloc(size_t bytes);

/* Bytes that the scratch buffers of all threads hold now: a thread's go when it ends (for tests). */
size_t cpu_scratch_bytes(void);

#endif
