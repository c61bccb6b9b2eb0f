/* membw.h: measuring the machine's memory read bandwidth, the yardstick of decode speed. */
#ifndef DS_MEMBW_H
#define DS_MEMBW_H

/* GB/s (1e9 bytes per second) reading a 1 GiB buffer, far larger than the caches, with n_threads
 * threads (0: one per usable core); the best of a few runs. The buffer is made at the first call
 * (about 3 s on a virtual machine) and kept for the process's later calls (a twentieth of a second
 * each). Returns 0 when the buffer or threads cannot be had. */
double cpu_measure_read_bandwidth(int n_threads);

#endif
