package evaluate

import (
	"context"
	"sync"
)

// parallel hands the indexes 0..n-1 to one goroutine per worker, each running
// body(worker, next, tick) until next is closed; body calls tick after each
// item, which reports the number done so far to progress (when not nil). It
// stops handing out indexes when ctx ends and returns ctx's error then.
func parallel[W any](ctx context.Context, workers []W, n int, progress func(int), body func(w W, next <-chan int, tick func())) error {
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	tick := func() {
		if progress == nil {
			return
		}
		mu.Lock()
		done++
		progress(done)
		mu.Unlock()
	}
	for _, w := range workers {
		wg.Add(1)
		go func(w W) {
			defer wg.Done()
			body(w, next, tick)
		}(w)
	}
	var err error
loop:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break loop
		}
	}
	close(next)
	wg.Wait()
	return err
}
