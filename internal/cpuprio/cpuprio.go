// Package cpuprio lowers the scheduling priority of the calling goroutine's
// OS thread, so that a pipeline's in-order stages (decoding, face tracking)
// are never kept waiting for a CPU by its parallel stages (scoring).
package cpuprio

import "runtime"

// Lower locks the calling goroutine to its OS thread and raises the
// thread's nice value by n (a lower priority; Linux only, elsewhere it
// only locks). The thread is never unlocked: when the goroutine returns,
// the Go runtime ends the thread, so no other goroutine inherits the
// priority. Call it at the start of a goroutine that runs to its end.
func Lower(n int) error {
	runtime.LockOSThread()
	return lower(n)
}
