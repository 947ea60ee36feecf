package cpuprio

import (
	"fmt"
	"syscall"
)

func lower(n int) error {
	tid := syscall.Gettid()
	cur, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return fmt.Errorf("cpuprio: get priority of thread %d: %w", tid, err)
	}
	// The raw getpriority system call returns 20 - nice.
	nice := 20 - cur
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(nice+n, 19)); err != nil {
		return fmt.Errorf("cpuprio: set nice %d on thread %d: %w", nice+n, tid, err)
	}
	return nil
}

// nice returns the calling thread's nice value.
func nice() (int, error) {
	cur, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	return 20 - cur, err
}
