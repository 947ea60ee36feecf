package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws a one-line progress bar with frames/s and ETA on a terminal
// and stays quiet otherwise.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	label string
	total int64
	start time.Time
	last  time.Time
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newProgress(w io.Writer, label string, total int64, quiet bool) *progress {
	return &progress{w: w, on: !quiet && isTerminal(w), label: label, total: total, start: time.Now()}
}

func (p *progress) update(done int64) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond && done != p.total {
		return
	}
	p.last = now
	el := now.Sub(p.start).Seconds()
	fps := 0.0
	if el > 0 {
		fps = float64(done) / el
	}
	if p.total > 0 {
		frac := min(float64(done)/float64(p.total), 1)
		n := int(frac * 30)
		eta := "?"
		if fps > 0 {
			eta = (time.Duration(float64(p.total-done)/fps) * time.Second).Round(time.Second).String()
		}
		fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%% %d/%d frames %.1f frames/s ETA %s  ",
			p.label, strings.Repeat("#", n), strings.Repeat(".", 30-n), frac*100, done, p.total, fps, eta)
	} else {
		fmt.Fprintf(p.w, "\r%s %d frames %.1f frames/s  ", p.label, done, fps)
	}
}

func (p *progress) finish() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}
