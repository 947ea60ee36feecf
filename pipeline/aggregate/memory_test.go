package aggregate

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/affectlab/affect/record"
)

// synthFrame is a frame as a live session delivers it (decoded from JSON:
// its own strings, a primary face and the list of faces).
func synthFrame(i int) record.FrameScore {
	f := record.FrameScore{Schema: 1, Session: fmt.Sprint("s", "1"), Participant: fmt.Sprint("P", "01"),
		Source: fmt.Sprint("/data/", "video.mp4"), Frame: int64(i), MediaMS: float64(i) * 1000 / 30, CaptureUnixNano: int64(i) * 33e6}
	if i%7 != 3 {
		h := float64((i*37)%100) / 100
		n := 20
		fc := record.Face{Box: record.Box{X: 10, Y: 20, W: 100, H: 100}, Happiness: h,
			Quality: &record.Quality{FaceFrac: 0.3, Sharpness: 100, DetectNeighbors: &n, Symmetry: 0.5}}
		fc.Probs[record.HappyIndex], fc.Probs[6] = h, 1-h
		f.FaceFound, f.NFaces, f.Primary, f.Faces = true, 1, &fc, []record.Face{fc}
	}
	return f
}

// heapPerFrame feeds n frames to a fresh aggregator (asking for a summary
// every 30 frames, as the live aggregation does about every second) and
// returns the live heap it holds per frame.
func heapPerFrame(t testing.TB, n int, opts ...Option) float64 {
	a, err := New(DefaultConfig(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		a.Add(synthFrame(i))
		if i%30000 == 0 {
			a.Summary()
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(a)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// TestAggregatorMemoryPerFrame: 100k frames through the aggregator. The
// statistics keep the exact median, so memory grows with the session, by a
// small bound per frame (a compact point, not the frame); a session that
// writes per-frame files keeps the frames (WithFrames) and grows by about
// their size.
func TestAggregatorMemoryPerFrame(t *testing.T) {
	if testing.Short() {
		t.Skip("100k frames")
	}
	const n = 100_000
	stats := heapPerFrame(t, n)
	withFrames := heapPerFrame(t, n, WithFrames())
	t.Logf("heap per frame over %d frames: statistics only %.0f B, with the frames kept %.0f B", n, stats, withFrames)
	if stats > 64 {
		t.Errorf("the aggregator's statistics hold %.0f B per frame, want <= 64 (a compact point)", stats)
	}
}

// BenchmarkLiveSecond: the live aggregation's work per second of a
// two-hour session (216,000 frames at 30 frames/s) once it is long: 30 new
// frames and one Summary.
func BenchmarkLiveSecond(b *testing.B) {
	const n = 2 * 3600 * 30
	a, _ := New(DefaultConfig())
	for i := range n {
		a.Add(synthFrame(i))
	}
	next := n
	b.ReportAllocs()
	for b.Loop() {
		for range 30 {
			a.Add(synthFrame(next))
			next++
		}
		a.Summary()
	}
}
