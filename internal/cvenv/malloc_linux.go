package cvenv

/*
#include <malloc.h>

// affect_keep_freed_memory keeps the C heap's freed memory for reuse
// instead of handing it back to the kernel: every decoded frame (a 640x480
// BGR frame is 900 KiB) is then allocated from pages already mapped, not
// from fresh pages that fault in one by one.
static void affect_keep_freed_memory(int mmapThreshold, int trimThreshold, int arenas) {
	mallopt(M_MMAP_THRESHOLD, mmapThreshold);
	mallopt(M_TRIM_THRESHOLD, trimThreshold);
	if (arenas > 0) {
		mallopt(M_ARENA_MAX, arenas);
	}
}
*/
import "C"

import "os"

// keepFreedMemory sets glibc's malloc so that blocks up to 32 MiB (a 4K
// BGR frame is 24 MiB) come from the heap and up to 64 MiB of free heap is
// kept: OpenCV allocates a new Mat for every frame read, and with glibc's
// defaults those frames kept being unmapped and faulted in again (about 80
// page faults per 640x480 frame, measured with /usr/bin/time). The heap is
// shared by at most 2 arenas: with one per thread (glibc's default, up to
// 8 per CPU) every arena kept its own free memory and the resident size
// of `affect score` over 120 videos grew from 283 to 369 MB; with 2 it
// stays at 249 MB, as with glibc's defaults, and the speed gain stays.
// A variable the user set (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_,
// MALLOC_ARENA_MAX) wins.
func keepFreedMemory() {
	_, m := os.LookupEnv("MALLOC_MMAP_THRESHOLD_")
	_, t := os.LookupEnv("MALLOC_TRIM_THRESHOLD_")
	if m || t {
		return
	}
	arenas := 2
	if _, set := os.LookupEnv("MALLOC_ARENA_MAX"); set {
		arenas = 0 // glibc read it
	}
	C.affect_keep_freed_memory(32<<20, 64<<20, C.int(arenas))
}
