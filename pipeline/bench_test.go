package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
)

var benchSession atomic.Int64

// benchThroughBroker publishes b.N frames through a real embedded server to a
// durable consumer feeding an Aggregator, and reports the capture-to-aggregate
// latency (capture stamp set just before Process, read after Aggregator.Add)
// and the frames/s that reached the aggregator. interval 0 publishes as fast
// as possible.
func benchThroughBroker(b *testing.B, interval time.Duration) {
	srv := startServer(b, b.TempDir(), -1)
	pnc, js := connect(b, srv.ClientURL())
	_, cjs := connect(b, srv.ClientURL())
	session := fmt.Sprintf("bench%d", benchSession.Add(1))
	ctx := context.Background()
	if err := pipeline.StartSession(ctx, js, session, pipeline.SessionStart{Source: "bench"}); err != nil {
		b.Fatal(err)
	}
	agg, _ := aggregate.New(aggregate.DefaultConfig())
	var mu sync.Mutex
	lat := make([]float64, 0, b.N)
	cons, err := pipeline.NewConsumer(cjs, session, agg, pipeline.WithConsumerLogger(quiet),
		pipeline.WithOnFrame(func(f record.FrameScore) {
			d := time.Since(f.CaptureTime())
			mu.Lock()
			lat = append(lat, float64(d)/float64(time.Millisecond))
			mu.Unlock()
		}))
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	pub, err := pipeline.NewPublisher(pnc, pipeline.WithPublisherLogger(quiet), pipeline.WithBlockWhenFull())
	if err != nil {
		b.Fatal(err)
	}
	frames := makeFrames(session, b.N)
	b.ResetTimer()
	start := time.Now()
	next := start
	for i := range frames {
		if interval > 0 {
			time.Sleep(time.Until(next))
			next = next.Add(interval)
		}
		frames[i].CaptureUnixNano = time.Now().UnixNano()
		if err := pub.Process(ctx, frames[i]); err != nil {
			b.Fatal(err)
		}
	}
	rep, err := pub.Close(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := pipeline.PublishEvent(ctx, js, pipeline.NewEndEvent(session, pipeline.SessionEnd{Frames: b.N, Published: rep.Published})); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if n := agg.Len(); n != b.N {
		b.Fatalf("aggregated %d of %d frames", n, b.N)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(q(0.50), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(lat[len(lat)-1], "max_ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
}

// BenchmarkPipeline30fps paces frames at 30 frames/s, like a camera. Use a
// fixed count for meaningful percentiles: go test -bench 30fps -benchtime 900x
func BenchmarkPipeline30fps(b *testing.B) { benchThroughBroker(b, time.Second/30) }

// BenchmarkPipelineMax publishes as fast as the pipeline takes frames
// (Process blocks when the buffer is full). Its latencies are mostly queueing.
func BenchmarkPipelineMax(b *testing.B) { benchThroughBroker(b, 0) }
