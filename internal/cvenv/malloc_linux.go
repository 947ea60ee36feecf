package cvenv

/*
#include <malloc.h>

// affect_keep_freed_memory keeps the C heap's freed memory for reuse
// instead of handing it back to the kernel: every decoded frame (a 640x480
// BGR frame is 900 KiB) is then allocated from pages already mapped, not
// from fresh pages that fault in one by one.
static void affect_keep_freed_memory(int mmapThreshold, int trimThreshold) {
	mallopt(M_MMAP_THRESHOLD, mmapThreshold);
	mallopt(M_TRIM_THRESHOLD, trimThreshold);
}
*/
import "C"

import "os"

// keepFreedMemory sets glibc's malloc so that blocks up to 32 MiB (a 4K
// BGR frame is 24 MiB) come from the heap and up to 64 MiB of free heap is
// kept: OpenCV allocates a new Mat for every frame read, and with glibc's
// defaults those frames kept being unmapped and faulted in again (about 80
// page faults per 640x480 frame, measured with /usr/bin/time). A variable
// the user set (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_) wins.
func keepFreedMemory() {
	_, m := os.LookupEnv("MALLOC_MMAP_THRESHOLD_")
	_, t := os.LookupEnv("MALLOC_TRIM_THRESHOLD_")
	if m || t {
		return
	}
	C.affect_keep_freed_memory(32<<20, 64<<20)
}
