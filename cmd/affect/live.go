package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/affectlab/affect/metrics"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
	"github.com/nats-io/nats.go/jetstream"
)

// liveAggregation is a durable consumer feeding an Aggregator, publishing the
// summary on affect.<session>.summary every interval. `affect aggregate` and
// `affect session` both run one.
type liveAggregation struct {
	session  string
	name     string // durable consumer name
	js       jetstream.JetStream
	agg      *aggregate.Aggregator
	cons     *pipeline.Consumer
	interval time.Duration
	status   io.Writer // a status line per interval, nil for none
	lat      latencies
}

// latencies keeps capture-to-aggregate delays for percentiles (at most the
// last maxLatencies frames).
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
	n  int
}

const maxLatencies = 1 << 16

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) < maxLatencies {
		l.d = append(l.d, d)
	} else {
		l.d[l.n%maxLatencies] = d
	}
	l.n++
}

// percentiles returns the p50 and p99 delays and how many were observed.
func (l *latencies) percentiles() (p50, p99 time.Duration, n int) {
	l.mu.Lock()
	v := append([]time.Duration(nil), l.d...)
	n = l.n
	l.mu.Unlock()
	if len(v) == 0 {
		return 0, 0, n
	}
	slices.Sort(v)
	at := func(q float64) time.Duration { return v[min(int(q*float64(len(v))), len(v)-1)] }
	return at(0.50), at(0.99), n
}

func newLiveAggregation(js jetstream.JetStream, session, consumerName string, cfg aggregate.Config, wait bool, interval time.Duration, status io.Writer) (*liveAggregation, error) {
	agg, err := aggregate.New(cfg, aggregate.WithSession(session, ""))
	if err != nil {
		return nil, usageError("%v", err)
	}
	la := &liveAggregation{session: session, name: consumerName, js: js, agg: agg, interval: interval, status: status}
	la.cons, err = pipeline.NewConsumer(js, session, agg,
		pipeline.WithConsumerName(consumerName),
		pipeline.WithWaitForSession(wait),
		pipeline.WithOnFrame(func(f record.FrameScore) {
			metrics.FrameAggregated(session, f.CaptureUnixNano)
			if f.CaptureUnixNano > 0 {
				la.lat.add(time.Since(time.Unix(0, f.CaptureUnixNano)))
			}
		}),
		pipeline.WithOnEvent(func(ev pipeline.Event) {
			switch ev.Type {
			case pipeline.EventSessionStart:
				agg.SetMeta("", ev.Start.Participant)
				slog.Info("session started", "session", session, "participant", ev.Start.Participant, "source", ev.Start.Source)
			case pipeline.EventMarker:
				slog.Info("marker", "label", ev.Marker.Label, "condition", ev.Marker.Condition, "onset_ms", ev.Marker.OnsetMS)
			case pipeline.EventSessionEnd:
				slog.Info("session ended", "frames", ev.End.Frames, "undelivered", ev.End.Undelivered, "reason", ev.End.Reason)
			}
		}))
	if err != nil {
		return nil, usageError("%v", err)
	}
	return la, nil
}

func (la *liveAggregation) snapshot() aggregate.Summary {
	setDelivery(la.agg, la.cons)
	return la.agg.Summary()
}

// run consumes until the session ends (nil) or ctx ends, publishing summaries.
func (la *liveAggregation) run(ctx context.Context) error {
	runCtx, stopTicker := context.WithCancel(ctx)
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		t := time.NewTicker(la.interval)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
			}
			lctx, lcancel := context.WithTimeout(runCtx, la.interval)
			if n, err := la.cons.Pending(lctx); err == nil {
				metrics.SetConsumerLag(la.session, la.name, n)
			}
			lcancel()
			if la.agg.Len() == 0 {
				continue
			}
			s := la.snapshot()
			pctx, cancel := context.WithTimeout(runCtx, la.interval)
			if err := pipeline.PublishSummary(pctx, la.js, la.session, s); err != nil && runCtx.Err() == nil {
				slog.Warn("could not publish the live summary", "err", err)
			}
			cancel()
			if la.status != nil {
				printStatus(la.status, s)
			}
		}
	}()
	err := la.cons.Run(ctx)
	stopTicker()
	<-tickDone
	return err
}

// finish publishes the final summary and returns it with its status.
func (la *liveAggregation) finish() LiveSummary {
	final := la.snapshot()
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := pipeline.PublishSummary(fctx, la.js, la.session, final); err != nil {
		slog.Warn("could not publish the final summary", "err", err)
	}
	cancel()
	ls := LiveSummary{Consumer: la.cons.Stats(), Summary: final, Status: "complete"}
	if s := la.cons.Start(); s != nil {
		ls.Source = s.Source
	}
	if d := final.Delivery; d == nil || d.MissingFrames > 0 || d.UndeliveredFrames > 0 {
		ls.Status = "incomplete"
	}
	if e := la.cons.End(); e != nil && e.Reason != "" && e.Reason != "completed" {
		// The frames are all here, but the session stopped early.
		ls.Status = "interrupted"
		if e.Reason != "interrupted" {
			ls.Status = "failed: " + e.Reason
		}
	}
	return ls
}

// report prints the end-of-session line (and the delivery problem, if any).
func (la *liveAggregation) report(ls LiveSummary, stdout, stderr io.Writer, prog string) {
	o := ls.Overall
	fmt.Fprintf(stdout, "session %s ended: %d frames, %d with a face, mean happiness %s, %d epochs, status %s\n",
		la.session, o.Frames, o.FaceFrames, fmtPtr(o.Mean), len(ls.Epochs), ls.Status)
	if ls.Status != "complete" && ls.Delivery != nil {
		d := ls.Delivery
		fmt.Fprintf(stderr, "%s: %d frames were not delivered by the session and %d delivered frames are missing from the stream\n", prog, d.UndeliveredFrames, d.MissingFrames)
	}
}
