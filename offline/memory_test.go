package offline

import (
	"context"
	"runtime"
	"testing"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/score"
)

// realFrames scores the first n frames of the sample video.
func realFrames(t testing.TB, n int) []record.FrameScore {
	src, err := capture.Open(testenv.Sample(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []record.FrameScore
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	score.Run(ctx, src, score.Config{Session: "mem", Source: testenv.Sample(t), Scorer: classify.ScorerParams{Model: classify.DefaultModel}},
		func(f record.FrameScore) error {
			out = append(out, f)
			if len(out) == n {
				cancel()
			}
			return nil
		})
	if len(out) < n {
		t.Fatalf("scored %d frames", len(out))
	}
	return out
}

// copyFrame is frame i of a long video made by repeating real frames: a deep
// copy, allocated as score.Run allocates each frame.
func copyFrame(real []record.FrameScore, i int) record.FrameScore {
	f := real[i%len(real)]
	f.Frame = int64(i)
	f.MediaMS = float64(i) * 1000 / 30
	f.Faces = append([]record.Face(nil), f.Faces...)
	for k := range f.Faces {
		if q := f.Faces[k].Quality; q != nil {
			qc := *q
			f.Faces[k].Quality = &qc
		}
	}
	if f.Primary != nil {
		p := *f.Primary
		f.Primary = &p
	}
	return f
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Memory per frame of `affect score` stays small (issue 9, defect 9: it grew
// ~1.7 kB per frame because every scored frame was kept whole for the plot,
// the smoothing and the summary). Frames now stream to a temporary file; the
// summary keeps a slim frame and the smoothing 17 bytes.
func TestScoreMemoryPerFrame(t *testing.T) {
	real := realFrames(t, 60)
	const n1, n2 = 20000, 120000

	// Today: the sink of `affect score`.
	paths := export.PathsFor(t.TempDir(), "long")
	sink, err := NewSink(aggregate.DefaultConfig(), paths, export.FramesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.res.Abort()
	var at1 uint64
	for i := range n2 {
		if i == n1 {
			at1 = heapInUse()
		}
		if err := sink.Add(copyFrame(real, i)); err != nil {
			t.Fatal(err)
		}
	}
	perFrame := float64(heapInUse()-at1) / (n2 - n1)

	// Before: every frame kept whole (and the summary's own copy).
	var kept []record.FrameScore
	base := heapInUse()
	for i := range n2 - n1 {
		kept = append(kept, copyFrame(real, i))
	}
	agg, _ := aggregate.New(aggregate.DefaultConfig())
	for _, f := range kept {
		agg.Add(f)
	}
	keptPerFrame := float64(heapInUse()-base) / (n2 - n1)
	runtime.KeepAlive(kept)
	runtime.KeepAlive(agg)

	if err := sink.res.Commit(300, &export.PlotOptions{}, map[string]int{"frames": n2}); err != nil {
		t.Fatal(err)
	}
	if rows := len(testenv.ReadCSV(t, paths.Frames)) - 1; rows != n2 {
		t.Fatalf("%d rows written, want %d", rows, n2)
	}
	t.Logf("heap per frame: %.0f B streaming (was %.0f B keeping every frame)", perFrame, keptPerFrame)
	// What remains is the summary's store of slim frames (pipeline/aggregate
	// keeps every distinct frame for its median and epochs).
	if perFrame > 450 || perFrame > keptPerFrame*0.6 {
		t.Errorf("%.0f B of heap per frame (keeping every frame: %.0f B); want under 450 B and well under the old way", perFrame, keptPerFrame)
	}
}

// BenchmarkScoreSink measures the memory and time per frame of the sink of
// `affect score` (go test -bench ScoreSink -benchmem ./offline).
func BenchmarkScoreSink(b *testing.B) {
	real := realFrames(b, 60)
	sink, err := NewSink(aggregate.DefaultConfig(), export.PathsFor(b.TempDir(), "bench"), export.FramesOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.res.Abort()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := sink.Add(copyFrame(real, i)); err != nil {
			b.Fatal(err)
		}
	}
}
