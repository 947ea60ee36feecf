package main

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
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/pipeline/broker"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/samples"
	"github.com/affectlab/affect/score"
)

func init() {
	register(command{
		name:    "session",
		summary: "run a live session: capture, score, publish over NATS, aggregate, dashboard",
		run:     runSession,
	})
}

func runSession(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("session", stderr, "[--source 0|FILE|URL] [--session S] [--participant P] [flags]\n\n"+
		"Captures frames, scores each for happiness and publishes the scores on\n"+
		"affect.S.frames (NATS JetStream). With no --nats it starts an embedded broker\n"+
		"(other terminals reach it with 'affect mark' / 'affect aggregate'); with no\n"+
		"--source it plays the bundled sample video. It aggregates the session in the\n"+
		"same process (unless --no-aggregate), serves the dashboard and, at the end,\n"+
		"writes S.frames.csv, S.summary.json and S.happiness.png into --out.")
	var sf scoringFlags
	sf.register(fs)
	var nf natsFlags
	nf.register(fs)
	source := fs.String("source", "", "camera index, video file or stream URL (default: the bundled sample video)")
	session := fs.String("session", "", "session name: letters, digits, '-' and '_' (default: session-DATE-TIME)")
	participant := fs.String("participant", "", "participant ID (pseudonymous)")
	out := fs.String("out", "", "directory for the result files, written when the session ends")
	markers := fs.String("markers", "", "CSV of stimulus markers (onset_ms,label,condition) to publish for a recorded video")
	fast := fs.Bool("fast", false, "play a video file as fast as it can be scored instead of at its own frame rate")
	dataDir := fs.String("data-dir", "", "embedded broker's JetStream store (default: "+defaultDataDirHelp()+")")
	natsPort := fs.Int("nats-port", broker.DefaultPort, "embedded broker's port on 127.0.0.1 (-1: any free port)")
	noAgg := fs.Bool("no-aggregate", false, "only publish; aggregate elsewhere with 'affect aggregate'")
	httpAddr, httpToken := httpFlags(fs)
	quiet := fs.Bool("quiet", false, "no status line per second")
	cfg := aggregate.DefaultConfig()
	finishCfg := registerAggregateFlags(fs, &cfg)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("unexpected argument %q (the source is given with --source)", pos[0])
	}
	if err := sf.validate(); err != nil {
		return err
	}
	cfg.Threshold = sf.threshold
	if err := finishCfg(); err != nil {
		return err
	}
	if *session == "" {
		*session = "session-" + time.Now().Format("20060102-150405")
	}
	if err := pipeline.ValidateSession(*session); err != nil {
		return usageError("--session: %v", err)
	}
	if nf.url != "" && *dataDir != "" {
		return usageError("--data-dir is for the embedded broker; it cannot be used with --nats")
	}
	marks, err := readMarkers(*markers)
	if err != nil {
		return err
	}
	if *source == "" {
		p, err := samples.VideoPath()
		if err != nil {
			return fmt.Errorf("no --source given and the bundled sample is unavailable: %w", err)
		}
		*source = p
		slog.Info("no --source: playing the bundled sample video", "path", p)
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return fmt.Errorf("creating --out directory: %w", err)
		}
	}

	// Load the models and open the source first: a bad model, a missing camera
	// or file fails before anything starts.
	sc, err := classify.NewScorer(sf.scorerParams())
	if err != nil {
		return err
	}
	sc.Close()
	copts := append(sf.captureOptions(), capture.Realtime(!*fast))
	src, err := capture.Open(*source, copts...)
	if err != nil {
		return err
	}
	defer src.Close()
	info := src.Info()

	// Broker: embedded unless --nats names one.
	if nf.url == "" {
		srv, err := broker.Start(broker.Config{DataDir: *dataDir, Port: *natsPort})
		if err != nil {
			return fmt.Errorf("%w (is another 'affect session' running? connect to it with --nats %s, or use --nats-port)", err, broker.DefaultURL)
		}
		defer srv.Shutdown()
		nf.url = srv.ClientURL()
		slog.Info("embedded NATS broker", "url", nf.url, "data_dir", srv.DataDir())
	}
	nc, js, err := nf.connectStreams(ctx, "affect session")
	if err != nil {
		return err
	}
	defer nc.Close()

	stopDashboard, err := startDashboard(ctx, nc, *httpAddr, *httpToken, flagSet(fs, "http"), *session, stdout)
	if err != nil {
		return err
	}
	defer stopDashboard()

	started := time.Now()
	start := pipeline.SessionStart{Participant: *participant, Source: info.Name, FPS: info.FPS, StartedUnixNano: started.UnixNano()}
	if err := pipeline.StartSession(ctx, js, *session, start); err != nil {
		return err
	}
	for _, m := range marks {
		if err := pipeline.PublishEvent(ctx, js, pipeline.NewMarkerEvent(*session, m)); err != nil {
			return err
		}
	}

	// Aggregation in this process.
	var la *liveAggregation
	aggDone := make(chan error, 1)
	aggCtx, stopAgg := context.WithCancel(context.Background())
	defer stopAgg()
	if !*noAgg {
		var status io.Writer
		if !*quiet {
			status = stdout
		}
		la, err = newLiveAggregation(js, *session, "session", cfg, false, time.Second, status)
		if err != nil {
			return err
		}
		go func() { aggDone <- la.run(aggCtx) }()
	}

	var popts []pipeline.PublisherOption
	if info.Kind == capture.KindFile || info.Kind == capture.KindDir {
		// A file can wait for the broker; a camera cannot, so its frames are
		// buffered to a bound and the overflow counted.
		popts = append(popts, pipeline.WithBlockWhenFull())
	}
	pub, err := pipeline.NewPublisher(nc, popts...)
	if err != nil {
		return err
	}
	stats, runErr := score.Run(ctx, src, score.Config{
		Session: *session, Participant: *participant, Source: info.Name,
		Scorer: sf.scorerParams(), Workers: sf.workers,
	}, func(f record.FrameScore) error {
		metrics.FrameCaptured(*session)
		metrics.FrameScored(*session, f.FaceFound)
		err := pub.Process(ctx, f)
		if errors.Is(err, pipeline.ErrBufferFull) {
			return nil // counted by the publisher and reported at the end
		}
		if err == nil {
			return nil
		}
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("publishing frame %d: %w", f.Frame, err)
	})

	// However the capture ended, deliver what is buffered and close the session.
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	rep, closeErr := pub.Close(cctx)
	cancel()
	if rep.Undelivered > 0 {
		metrics.FramesUndelivered(*session, rep.Undelivered)
	}
	reason := "completed"
	switch {
	case errors.Is(runErr, context.Canceled):
		reason = "interrupted"
	case runErr != nil:
		reason = runErr.Error()
	}
	end := pipeline.SessionEnd{Frames: int(stats.Frames), Published: rep.Published, Undelivered: rep.Undelivered,
		EndedUnixNano: time.Now().UnixNano(), Reason: reason}
	ectx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	endErr := pipeline.PublishEvent(ectx, js, pipeline.NewEndEvent(*session, end))
	cancel()
	fmt.Fprintf(stdout, "captured and scored %d frames (%d with a face) in %s; %d published, %d undelivered\n",
		stats.Frames, stats.FaceFrames, stats.Elapsed.Round(time.Millisecond), rep.Published, rep.Undelivered)
	if rep.Undelivered > 0 {
		fmt.Fprintf(stderr, "affect session: %d of %d frames could not be delivered to NATS (broker unreachable); they are not in the session's results\n", rep.Undelivered, stats.Frames)
	}

	if la != nil {
		if endErr != nil {
			stopAgg() // the aggregator would wait for an end that never comes
		}
		// A session interrupted by Ctrl-C still gets its results.
		if err := <-aggDone; err != nil && !errors.Is(err, context.Canceled) {
			slog.Error("aggregation failed", "err", err)
		}
		ls := la.finish()
		la.report(ls, stdout, stderr, "affect session")
		if p50, p99, n := la.lat.percentiles(); n > 0 {
			fmt.Fprintf(stdout, "capture-to-aggregate latency over %d frames: p50 %s, p99 %s\n", n, p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond))
		}
		if *out != "" {
			if err := writeLiveResults(*out, *session, la.agg, ls, true, sf.smooth, stdout); err != nil {
				return err
			}
		}
	}
	switch {
	case runErr != nil:
		return runErr
	case closeErr != nil:
		return closeErr
	case endErr != nil:
		return fmt.Errorf("publishing the end of session: %w", endErr)
	case rep.Undelivered > 0:
		return fmt.Errorf("%d frames undelivered", rep.Undelivered)
	}
	return nil
}

func defaultDataDirHelp() string {
	d, err := broker.DefaultDataDir()
	if err != nil {
		return "a per-user data directory"
	}
	return d
}
