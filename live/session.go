package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/metrics"
	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/score"
	"github.com/nats-io/nats.go"
)

// ErrConfig is wrapped by a SessionConfig that cannot run (a usage error).
var ErrConfig = errors.New("invalid session configuration")

// DefaultDrainTimeout bounds the wait after the capture ended (see SessionConfig.DrainTimeout).
const DefaultDrainTimeout = 30 * time.Second

// interruptedDrain bounds the wait after an interruption (Ctrl-C): the
// user wants the prompt back at once.
const interruptedDrain = 700 * time.Millisecond

// SessionConfig configures RunSession.
type SessionConfig struct {
	Session, Participant string
	// Source is the camera index, video file, stream URL or image directory.
	Source  string
	Capture []capture.Option
	// Realtime plays a file at its own frame rate (cameras and streams are real time anyway).
	Realtime bool
	Scorer   classify.ScorerParams
	Workers  int
	// Markers are published at the start (for a recorded video).
	Markers []record.Marker
	Broker  BrokerConfig
	// OnConnected, when set, is called with the connection once the broker
	// is reached (the dashboard starts there); the returned stop runs at the end.
	OnConnected func(nc *nats.Conn) (stop func(), err error)
	// NoAggregate only publishes; otherwise the session is aggregated in
	// this process with Aggregation.
	NoAggregate bool
	Aggregation aggregate.Config
	// Out is the directory of the result files ("" for none; needs the aggregation).
	Out    string
	Smooth time.Duration
	// DrainTimeout bounds the wait after the capture ended: for the broker
	// to acknowledge the buffered frames, for the session_end to be stored and
	// for the aggregation to receive every frame (default DefaultDrainTimeout).
	// After an interruption the bound is 0.7 s.
	DrainTimeout time.Duration
	// Status gets a status line per second (nil: none); Stdout the results,
	// Stderr the problems.
	Status, Stdout, Stderr io.Writer
}

// Validate checks the configuration before anything starts; errors about
// flags wrap ErrConfig. An --out directory that cannot be written is
// reported here, at the start, not after the session.
func (c *SessionConfig) Validate() error {
	if err := pipeline.ValidateSession(c.Session); err != nil {
		return fmt.Errorf("%w: --session: %v", ErrConfig, err)
	}
	if c.NoAggregate && c.Out != "" {
		return fmt.Errorf("%w: --out needs the aggregation, which --no-aggregate turns off; write the results with 'affect aggregate --session %s --out %s' instead", ErrConfig, c.Session, c.Out)
	}
	if c.DrainTimeout < 0 {
		return fmt.Errorf("%w: --drain-timeout %v must be >= 0", ErrConfig, c.DrainTimeout)
	}
	if c.Out != "" {
		if err := CheckWritable(c.Out); err != nil {
			return err
		}
	}
	return nil
}

// CheckWritable creates dir if needed and checks that a file can be created
// in it.
func CheckWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out %s: %w (choose a directory you can write)", dir, err)
	}
	f, err := os.CreateTemp(dir, ".affect-write-check-*")
	if err != nil {
		return fmt.Errorf("--out %s cannot be written: %w (the results would be lost at the end; choose another directory)", dir, err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return nil
}

// SessionResult is what RunSession did.
type SessionResult struct {
	Capture score.Stats
	Publish pipeline.PublishReport
	// Summary is the live summary (nil with NoAggregate).
	Summary *Summary
	// AfterCapture is how long the session took after its capture ended
	// (draining, the session_end, the aggregation's last frames, the files).
	AfterCapture time.Duration
}

// RunSession runs a live session: opens the source, starts (or reaches) the
// broker, publishes session_start (with a fresh token, the model and the
// source's limits), scores and publishes every frame, then publishes the
// session_end and, unless NoAggregate, aggregates the session in this
// process and writes the results. Everything after the capture ends is
// bounded by DrainTimeout, with a message saying what it waits for. The
// error is nil only when the job succeeded: every captured frame published
// and (when aggregating) in the result; otherwise it says what is missing
// and why (wrapping ErrIncomplete, pipeline.ErrUndelivered or the capture's error).
func RunSession(ctx context.Context, cfg SessionConfig) (res SessionResult, err error) {
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	stdout, stderr := orDiscard(cfg.Stdout), orDiscard(cfg.Stderr)
	drain := cfg.DrainTimeout
	if drain == 0 {
		drain = DefaultDrainTimeout
	}
	version, err := models.Version(cfg.Scorer.Model)
	if err != nil {
		return res, err
	}

	// Load the models and open the source first: a bad model, a missing
	// camera or file fails before anything starts.
	sc, err := classify.NewScorer(cfg.Scorer)
	if err != nil {
		return res, err
	}
	sc.Close()
	src, err := capture.Open(cfg.Source, append(cfg.Capture, capture.Realtime(cfg.Realtime))...)
	if err != nil {
		return res, err
	}
	defer src.Close()
	info := src.Info()

	conn, err := Connect(ctx, cfg.Broker)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	nc, js := conn.NC, conn.JS
	if cfg.OnConnected != nil {
		stop, err := cfg.OnConnected(nc)
		if err != nil {
			return res, err
		}
		defer stop()
	}

	token := pipeline.NewSessionToken()
	endKey, endKeyHash := pipeline.NewEndKey()
	started := time.Now()
	start := pipeline.SessionStart{Participant: cfg.Participant, Source: info.Name, FPS: info.FPS, StartedUnixNano: started.UnixNano(),
		Token: token, EndKeyHash: endKeyHash, Model: cfg.Scorer.Model, ModelVersion: version, Backend: cfg.Scorer.Backend,
		Realtime: info.Kind == capture.KindCamera || info.Kind == capture.KindStream || (info.Kind == capture.KindFile && cfg.Realtime)}
	if info.Kind == capture.KindFile && info.FrameCount > 0 {
		start.FrameCount = info.FrameCount
		if info.FPS > 0 {
			start.DurationMS = float64(info.FrameCount) * 1000 / info.FPS
		}
	}
	if err := pipeline.StartSession(ctx, js, cfg.Session, start); err != nil {
		return res, err
	}
	for _, m := range cfg.Markers {
		if err := pipeline.PublishEvent(ctx, js, pipeline.NewMarkerEvent(cfg.Session, m)); err != nil {
			return res, err
		}
	}

	// Aggregation in this process.
	var la *Aggregation
	aggDone := make(chan error, 1)
	aggCtx, stopAgg := context.WithCancel(context.Background())
	defer stopAgg()
	if !cfg.NoAggregate {
		la, err = NewAggregation(js, AggregationConfig{Session: cfg.Session, Name: "session", Config: cfg.Aggregation, Interval: time.Second, Status: cfg.Status, KeepFrames: cfg.Out != ""})
		if err != nil {
			return res, fmt.Errorf("%w: %v", ErrConfig, err)
		}
		go func() { aggDone <- la.Run(aggCtx) }()
	}

	popts := []pipeline.PublisherOption{pipeline.WithSessionToken(token)}
	if info.Kind == capture.KindFile || info.Kind == capture.KindDir {
		// A file can wait for the broker; a camera cannot, so its frames are
		// buffered to a bound and the overflow counted.
		popts = append(popts, pipeline.WithBlockWhenFull())
	}
	pub, err := pipeline.NewPublisher(nc, popts...)
	if err != nil {
		return res, err
	}
	lastFrame := int64(-1)
	// notHanded counts scored frames the publisher never took (Ctrl-C while
	// publishing): they are undelivered too.
	notHanded := 0
	stats, runErr := score.Run(ctx, src, score.Config{
		Session: cfg.Session, Participant: cfg.Participant, Source: info.Name,
		Scorer: cfg.Scorer, Workers: cfg.Workers,
	}, func(f record.FrameScore) error {
		metrics.FrameCaptured(cfg.Session)
		metrics.FrameScored(cfg.Session, f.FaceFound)
		lastFrame = max(lastFrame, f.Frame)
		err := pub.Process(ctx, f)
		switch {
		case err == nil, errors.Is(err, pipeline.ErrBufferFull):
			return nil // refused frames are counted by the publisher and reported at the end
		}
		notHanded++
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("publishing frame %d: %w", f.Frame, err)
	})
	res.Capture = stats
	captureEnded := time.Now()
	defer func() { res.AfterCapture = time.Since(captureEnded) }()
	interrupted := errors.Is(runErr, context.Canceled)
	if interrupted {
		drain = min(drain, interruptedDrain)
	}
	deadline := time.Now().Add(drain)
	remaining := func(least time.Duration) time.Duration { return max(time.Until(deadline), least) }

	// However the capture ended, deliver what is buffered (bounded) and close the session.
	if st := pub.Stats(); st.Buffered > 0 {
		fmt.Fprintf(stderr, "affect session: capture ended; waiting up to %s for the broker to acknowledge %d buffered frames (--drain-timeout)\n", remaining(0).Round(100*time.Millisecond), st.Buffered)
	}
	cctx, cancel := context.WithDeadline(context.Background(), deadline)
	stopProgress := progress(stderr, 2*time.Second, func() string {
		return fmt.Sprintf("affect session: still waiting for the broker to acknowledge %d frames (%s left)", pub.Stats().Buffered, remaining(0).Round(time.Second))
	})
	rep, closeErr := pub.Close(cctx)
	stopProgress()
	cancel()
	reason := "completed"
	switch {
	case interrupted:
		reason = "interrupted"
	case runErr != nil:
		reason = runErr.Error()
	}
	// Exact accounting: every captured frame is published or undelivered
	// (not accepted by the broker, scored but never handed to the publisher,
	// or captured but not scored when the run stopped); and the capture
	// outcome (gaps, lost source) goes into session_end, where the
	// aggregators decide the status.
	stopped := notHanded + int(stats.Dropped)
	rep.Undelivered = max(rep.Undelivered+stopped, int(stats.Captured)-rep.Published)
	res.Publish = rep
	if rep.Undelivered > 0 {
		metrics.FramesUndelivered(cfg.Session, rep.Undelivered)
	}
	end := pipeline.SessionEnd{Frames: int(stats.Captured), Published: rep.Published, Undelivered: rep.Undelivered,
		EndedUnixNano: time.Now().UnixNano(), Reason: reason, Token: token, EndKey: endKey,
		Gaps: capture.Gaps(src), SourceLost: errors.Is(runErr, capture.ErrSourceLost)}
	if end.SourceLost {
		end.Reason = "source lost"
	}
	if lastFrame >= 0 {
		end.LastFrame = &lastFrame
	}
	for _, g := range end.Gaps {
		fmt.Fprintf(stderr, "affect session: %s delivered no frames from %.1f s to %.1f s (%s; about %d frames lost; recovered: %v)\n",
			info.Name, g.FromMS/1000, g.ToMS/1000, g.Reason, g.LostFrames, g.Recovered)
	}
	ectx, cancel := context.WithTimeout(context.Background(), remaining(200*time.Millisecond))
	endErr := pipeline.PublishEvent(ectx, js, pipeline.NewEndEvent(cfg.Session, end))
	cancel()
	fmt.Fprintf(stdout, "captured %d frames, scored %d (%d with a face) in %s; %d published, %d undelivered\n",
		stats.Captured, stats.Frames, stats.FaceFrames, stats.Elapsed.Round(time.Millisecond), rep.Published, rep.Undelivered)
	if rep.Undelivered > 0 {
		fmt.Fprintf(stderr, "affect session: %d of %d captured frames were not delivered to NATS (%d not accepted by the broker, %d stopped before publishing); they are not in the session's results\n",
			rep.Undelivered, stats.Captured, max(0, rep.Undelivered-stopped), stopped)
	}
	if endErr != nil {
		fmt.Fprintf(stderr, "affect session: the session_end could not be stored: %v\n", endErr)
	}

	var resultErr error
	if la != nil {
		if endErr != nil {
			stopAgg() // the aggregator would wait for an end that never comes
		} else if la.Aggregator().Len() < rep.Published {
			fmt.Fprintf(stderr, "affect session: waiting up to %s for the aggregation to receive %d more frames\n",
				remaining(0).Round(100*time.Millisecond), rep.Published-la.Aggregator().Len())
		}
		select {
		case err := <-aggDone:
			if err != nil && !errors.Is(err, context.Canceled) {
				slog.Error("aggregation failed", "err", err)
			}
		case <-time.After(remaining(0)):
			stopAgg()
			<-aggDone
			fmt.Fprintf(stderr, "affect session: the aggregation did not receive the whole session within --drain-timeout %s\n", drain)
		}
		ls := la.Finish(&end, remaining(100*time.Millisecond))
		res.Summary = &ls
		la.Report(ls, stdout, stderr, "affect session")
		if p50, p99, n := la.Latency(); n > 0 {
			fmt.Fprintf(stdout, "capture-to-aggregate latency over %d frames: p50 %s, p99 %s\n", n, p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond))
		}
		if cfg.Out != "" {
			if err := la.WriteResults(cfg.Out, ls, true, cfg.Smooth, stdout); err != nil {
				return res, err
			}
		}
		if ls.Status == StatusIncomplete {
			resultErr = fmt.Errorf("%w: %s", ErrIncomplete, joinWhy(ls.Why))
		}
	}
	switch {
	case runErr != nil:
		return res, runErr
	case closeErr != nil:
		return res, closeErr
	case endErr != nil:
		return res, fmt.Errorf("publishing the end of session: %w", endErr)
	case resultErr != nil:
		return res, resultErr
	}
	return res, nil
}

func joinWhy(why []string) string {
	s := ""
	for i, w := range why {
		if i > 0 {
			s += "; "
		}
		s += w
	}
	return s
}

// progress prints msg() every interval until the returned stop is called.
func progress(w io.Writer, every time.Duration, msg func() string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintln(w, msg())
			}
		}
	}()
	return func() { close(done); <-finished }
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
