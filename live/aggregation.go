// Package live runs affect's live sessions: the capturing, scoring and
// publishing side (RunSession) and the durable aggregation of a session read
// back from NATS JetStream (Aggregation), which `affect session` runs in the
// same process and `affect aggregate` on its own.
//
// A session's status is "complete" only when every frame it captured is in
// the result; otherwise the summary says "incomplete" (or "interrupted",
// "failed: ...") and lists why.
package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/metrics"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
	"github.com/nats-io/nats.go/jetstream"
)

// Statuses of a live Summary.
const (
	StatusComplete    = "complete"
	StatusIncomplete  = "incomplete"
	StatusInterrupted = "interrupted"
)

// Summary is the summary JSON of a live session (`affect session --out`,
// `affect aggregate --out`): the aggregate summary plus how it was received.
type Summary struct {
	// Source is the session's frame source (from session_start).
	Source string `json:"source"`
	// Status is "complete" when every frame the session captured was
	// aggregated; "incomplete" when any is missing (Why says how many and
	// why); "interrupted" (Ctrl-C) or "failed: REASON" when the capture
	// stopped early but every captured frame is here.
	Status string `json:"status"`
	// Why lists every reason the status is not "complete".
	Why []string `json:"why,omitempty"`
	// Gaps are the stretches in which the camera or stream delivered no
	// frames (from session_end, validated); any gap, or a lost source, makes
	// the session "incomplete" ("interrupted" on Ctrl-C).
	Gaps     []record.Gap           `json:"gaps,omitempty"`
	Consumer pipeline.ConsumerStats `json:"consumer"`
	aggregate.Summary
}

// AggregationConfig configures an Aggregation.
type AggregationConfig struct {
	Session string
	// Name is the durable consumer name (default "aggregate").
	Name   string
	Config aggregate.Config
	// Wait waits for the session to start instead of failing.
	Wait bool
	// Interval is how often the summary is published (default 1s).
	Interval time.Duration
	// Status, when set, gets a status line per interval.
	Status io.Writer
	// IdleTimeout and EndGrace: see pipeline.WithIdleTimeout and WithEndGrace.
	IdleTimeout, EndGrace time.Duration
	// KeepFrames keeps every frame for WriteResults (aggregate.WithFrames);
	// without it memory holds only the statistics' compact points.
	KeepFrames bool
}

// Aggregation is a durable consumer of a session feeding an Aggregator and
// publishing its summary on affect.<session>.summary every interval.
type Aggregation struct {
	cfg  AggregationConfig
	js   jetstream.JetStream
	agg  *aggregate.Aggregator
	cons *pipeline.Consumer
	lat  latencies
}

// NewAggregation returns an Aggregation of cfg.Session on js.
func NewAggregation(js jetstream.JetStream, cfg AggregationConfig) (*Aggregation, error) {
	if cfg.Name == "" {
		cfg.Name = "aggregate"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	aopts := []aggregate.Option{aggregate.WithSession(cfg.Session, "")}
	if cfg.KeepFrames {
		aopts = append(aopts, aggregate.WithFrames())
	}
	agg, err := aggregate.New(cfg.Config, aopts...)
	if err != nil {
		return nil, err
	}
	a := &Aggregation{cfg: cfg, js: js, agg: agg}
	session := cfg.Session
	opts := []pipeline.ConsumerOption{
		pipeline.WithConsumerName(cfg.Name),
		pipeline.WithWaitForSession(cfg.Wait),
		pipeline.WithIdleTimeout(cfg.IdleTimeout),
		pipeline.WithOnFrame(func(f record.FrameScore) {
			// Called once per new frame, never for a redelivery or a replay.
			metrics.FrameAggregated(session, f.CaptureUnixNano)
			if f.CaptureUnixNano > 0 {
				a.lat.add(time.Since(time.Unix(0, f.CaptureUnixNano)))
			}
		}),
		pipeline.WithOnEvent(func(ev pipeline.Event) {
			switch ev.Type {
			case pipeline.EventSessionStart:
				agg.SetMeta("", ev.Start.Participant)
				agg.SetModel(ev.Start.Model, ev.Start.ModelVersion, ev.Start.Backend)
				slog.Info("session started", "session", session, "participant", ev.Start.Participant, "source", ev.Start.Source, "model", ev.Start.Model)
			case pipeline.EventMarker:
				slog.Info("marker", "label", ev.Marker.Label, "condition", ev.Marker.Condition, "onset_ms", ev.Marker.OnsetMS)
			case pipeline.EventSessionEnd:
				slog.Info("session_end received", "frames", ev.End.Frames, "published", ev.End.Published, "undelivered", ev.End.Undelivered, "reason", ev.End.Reason)
			}
		}),
	}
	if cfg.EndGrace > 0 {
		opts = append(opts, pipeline.WithEndGrace(cfg.EndGrace))
	}
	a.cons, err = pipeline.NewConsumer(js, session, agg, opts...)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Consumer is the durable consumer (its stats and state).
func (a *Aggregation) Consumer() *pipeline.Consumer { return a.cons }

// Aggregator is the aggregator fed by the consumer.
func (a *Aggregation) Aggregator() *aggregate.Aggregator { return a.agg }

// Snapshot returns the current summary with the delivery counts.
func (a *Aggregation) Snapshot() aggregate.Summary {
	a.agg.SetDelivery(Delivery(a.cons))
	return a.agg.Summary()
}

// Delivery returns the consumer's counts as the summary's Delivery.
func Delivery(cons *pipeline.Consumer) aggregate.Delivery {
	st := cons.Stats()
	d := aggregate.Delivery{Started: cons.Start() != nil, Malformed: st.Malformed, UnknownSchema: st.UnknownSchema,
		Rejected: st.Rejected, RejectedTotal: st.RejectedTotal(), Redelivered: st.Redelivered, Idle: cons.Idle()}
	es := cons.End()
	d.SessionEnds, d.SuspectEnds = es.Ends, es.Suspect
	if e := es.End; e != nil || es.Claimed != nil {
		if e == nil {
			e = es.Claimed
		}
		d.Ended = true
		d.PublishedFrames, d.UndeliveredFrames, d.CapturedFrames = e.Published, e.Undelivered, e.Frames
	}
	return d
}

// Run consumes until the session ends (nil: a session_end matching the
// frames, or an idle timeout) or ctx ends, publishing summaries.
func (a *Aggregation) Run(ctx context.Context) error {
	runCtx, stopTicker := context.WithCancel(ctx)
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		t := time.NewTicker(a.cfg.Interval)
		defer t.Stop()
		failing := 0
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
			}
			lctx, lcancel := context.WithTimeout(runCtx, a.cfg.Interval)
			if n, err := a.cons.Pending(lctx); err == nil {
				metrics.SetConsumerLag(a.cfg.Session, a.cfg.Name, n)
			}
			lcancel()
			if a.agg.Len() == 0 {
				continue
			}
			s := a.Snapshot()
			pctx, cancel := context.WithTimeout(runCtx, a.cfg.Interval)
			err := pipeline.PublishSummary(pctx, a.js, a.cfg.Session, &s)
			cancel()
			switch {
			case err != nil && runCtx.Err() == nil && failing == 0:
				slog.Warn("could not publish the live summary; retrying every interval (said once per outage)", "err", err)
				failing++
			case err != nil:
				failing++
			case failing > 0:
				slog.Info("live summary published again", "after_failures", failing)
				failing = 0
			}
			if a.cfg.Status != nil {
				printStatus(a.cfg.Status, s)
			}
		}
	}()
	err := a.cons.Run(ctx)
	stopTicker()
	<-tickDone
	return err
}

// Finish returns the final summary with its status and publishes it (within
// publishWait; 0 does not publish). own, when not nil, is the session's end
// as the publishing process itself knows it (captured, published and
// undelivered frames, reason), whether or not it could be stored; otherwise
// the session_end that arrived is used.
func (a *Aggregation) Finish(own *pipeline.SessionEnd, publishWait time.Duration) Summary {
	final := a.Snapshot()
	if publishWait > 0 {
		fctx, cancel := context.WithTimeout(context.Background(), publishWait)
		if err := pipeline.PublishSummary(fctx, a.js, a.cfg.Session, &final); err != nil {
			slog.Warn("could not publish the final summary", "err", err)
		}
		cancel()
	}
	ls := Summary{Consumer: a.cons.Stats(), Summary: final}
	if s := a.cons.Start(); s != nil {
		ls.Source = s.Source
	}
	es := a.cons.End()
	if own != nil {
		e := *own
		es.Claimed = &e
		if es.End == nil || es.End.Published != e.Published || es.End.Frames != e.Frames {
			es.End = nil
		}
	}
	ls.Status, ls.Why = status(final, es)
	// The capture outcome: a lost source or gaps make the session
	// incomplete (Ctrl-C still says interrupted).
	if e := es.End; e == nil && es.Claimed != nil {
		e = es.Claimed
		ls.Gaps, ls.Status, ls.Why = captureOutcome(e, ls.Status, ls.Why)
	} else if e != nil {
		ls.Gaps, ls.Status, ls.Why = captureOutcome(e, ls.Status, ls.Why)
	}
	return ls
}

// captureOutcome folds a session_end's gaps and lost source into the status.
func captureOutcome(e *pipeline.SessionEnd, st string, why []string) ([]record.Gap, string, []string) {
	gaps := validGaps(e.Gaps)
	if !e.SourceLost && len(gaps) == 0 {
		return nil, st, why
	}
	if e.SourceLost {
		why = append(why, "the camera or stream was lost and did not come back within the reconnect window")
	}
	if len(gaps) > 0 {
		why = append(why, fmt.Sprintf("the camera or stream delivered no frames in %d gap(s)", len(gaps)))
	}
	if st != StatusInterrupted {
		st = StatusIncomplete
	}
	return gaps, st, why
}

// validGaps keeps the gaps of a session_end (a network message) that make
// sense: finite, ordered media times, a bounded reason, at most 1000.
func validGaps(gs []record.Gap) []record.Gap {
	var out []record.Gap
	for _, g := range gs {
		if len(out) == 1000 || math.IsNaN(g.FromMS) || math.IsInf(g.FromMS, 0) || math.IsNaN(g.ToMS) || math.IsInf(g.ToMS, 0) ||
			g.FromMS < 0 || g.ToMS < g.FromMS || g.LostFrames < -1 || len(g.Reason) > 200 {
			continue
		}
		out = append(out, g)
	}
	return out
}

// status decides a session's status from what arrived.
func status(s aggregate.Summary, es pipeline.EndState) (string, []string) {
	var why []string
	got := s.Overall.Frames
	d := s.Delivery
	end := es.End
	if end == nil {
		end = es.Claimed
	}
	captured := -1
	if end != nil {
		captured = end.Frames
	}
	switch {
	case captured >= 0 && got < captured:
		why = append(why, fmt.Sprintf("%d of %d captured frames are not in the result", captured-got, captured))
	case captured < 0:
		why = append(why, "no session_end arrived: how many frames the session captured is unknown (crashed, still running, or the broker was lost)")
	}
	if end != nil && end.Undelivered > 0 && got < captured {
		why = append(why, fmt.Sprintf("the session could not deliver %d frames to NATS (broker unreachable)", end.Undelivered))
	}
	if end != nil && es.End == nil && end.Published > got {
		why = append(why, fmt.Sprintf("%d frames the broker acknowledged never arrived here", end.Published-got))
	}
	if end != nil && es.Ends == 0 && captured > 0 && d != nil && d.Started {
		why = append(why, "no session_end reached the aggregation (it could not be stored, or came after --drain-timeout): other readers cannot know the session ended")
	}
	if d != nil && d.Idle != "" {
		why = append(why, d.Idle)
	}
	if es.Suspect > 0 {
		why = append(why, fmt.Sprintf("%d session_end messages contradict the frames that arrived (not trusted)", es.Suspect))
	}
	if len(why) > 0 {
		return StatusIncomplete, why
	}
	if end != nil && end.Reason != "" && end.Reason != "completed" {
		if end.Reason == "interrupted" {
			return StatusInterrupted, []string{"the capture was interrupted (every captured frame is here)"}
		}
		return "failed: " + end.Reason, []string{"the capture stopped with an error (every captured frame is here)"}
	}
	return StatusComplete, nil
}

// Report prints the end-of-session line and, for a status other than
// complete, every reason on stderr.
func (a *Aggregation) Report(ls Summary, stdout, stderr io.Writer, prog string) {
	o := ls.Overall
	fmt.Fprintf(stdout, "session %s ended: %d frames, %d with a face, mean happiness %s, %d epochs, status %s\n",
		a.cfg.Session, o.Frames, o.FaceFrames, FmtPtr(o.Mean), len(ls.Epochs), ls.Status)
	if d := ls.Delivery; d != nil && d.RejectedTotal+d.Malformed+d.UnknownSchema > 0 {
		fmt.Fprintf(stderr, "%s: %d messages were not used: %d malformed, %d of an unknown schema, %d rejected (%s)\n", prog,
			d.RejectedTotal+d.Malformed+d.UnknownSchema, d.Malformed, d.UnknownSchema, d.RejectedTotal, pipeline.SessionCounts{Rejected: d.Rejected}.RejectedString())
	}
	for _, w := range ls.Why {
		fmt.Fprintf(stderr, "%s: status %s: %s\n", prog, ls.Status, w)
	}
}

// Latency returns the p50 and p99 capture-to-aggregate delays of the frames
// that arrived live (not replays or redeliveries) and how many were observed.
func (a *Aggregation) Latency() (p50, p99 time.Duration, n int) { return a.lat.percentiles() }

// WriteResults writes the per-frame CSV, the plot and the summary JSON
// together or not at all, the summary last (export.ResultWriter).
func (a *Aggregation) WriteResults(dir string, ls Summary, plot bool, smoothWindow time.Duration, stdout io.Writer) error {
	if !a.cfg.KeepFrames {
		return errors.New("live: WriteResults of an aggregation made without KeepFrames")
	}
	paths := export.PathsFor(dir, a.cfg.Session)
	frames := a.agg.Frames()
	res, err := export.NewResultWriter(paths)
	if err != nil {
		return err
	}
	defer res.Abort()
	for i := range frames {
		if err := res.Add(&frames[i]); err != nil {
			return err
		}
	}
	var po *export.PlotOptions
	if plot && len(frames) > 0 {
		pm := make([]export.PlotMarker, len(ls.Epochs))
		for i, e := range ls.Epochs {
			pm[i] = export.PlotMarker{TimeMS: e.OnsetMS, Label: e.Label}
		}
		po = &export.PlotOptions{Title: a.cfg.Session, Threshold: ls.Threshold, Markers: pm}
	}
	if err := res.Commit(float64(smoothWindow)/float64(time.Millisecond), po, ls); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s (status %s)\n", paths.Frames, paths.Summary, ls.Status)
	return nil
}

// ErrIncomplete is wrapped by the error of a job whose result is not complete.
var ErrIncomplete = errors.New("session result incomplete")

func printStatus(w io.Writer, s aggregate.Summary) {
	o, r := s.Overall, s.Rolling
	t := 0.0
	if o.ToMS != nil {
		t = *o.ToMS / 1000
	}
	face := "n/a"
	if o.FaceShare != nil {
		face = fmt.Sprintf("%.0f%%", 100**o.FaceShare)
	}
	fmt.Fprintf(w, "t=%.1fs frames %d face %s mean %s rolling %s epochs %d\n", t, o.Frames, face, FmtPtr(o.Mean), FmtPtr(r.Mean), len(s.Epochs))
}

// FmtPtr formats an optional statistic ("n/a" when nil).
func FmtPtr(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", *p)
}

// latencies keeps capture-to-aggregate delays for percentiles (at most the
// last maxLatencies frames: fixed memory).
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
