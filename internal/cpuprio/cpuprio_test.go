package cpuprio

import (
	"runtime"
	"testing"
)

func TestLowerOnlyTheCallingThread(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("thread priorities are set on Linux only")
	}
	runtime.LockOSThread()
	before, err := nice()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int)
	go func() {
		if err := Lower(5); err != nil {
			t.Error(err)
		}
		n, err := nice()
		if err != nil {
			t.Error(err)
		}
		got <- n
	}()
	if n := <-got; n != min(before+5, 19) {
		t.Errorf("nice after Lower(5) = %d, want %d", n, min(before+5, 19))
	}
	// Other goroutines' threads keep their priority.
	for range 20 {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			n, err := nice()
			if err != nil || n != before {
				t.Errorf("another thread has nice %d (err %v), want %d", n, err, before)
			}
			got <- 0
		}()
		<-got
	}
}
