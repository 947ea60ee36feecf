package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/affectlab/affect/live"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/pipeline/broker"
	"github.com/affectlab/affect/samples"
	"github.com/nats-io/nats.go"
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
		"writes S.frames.csv, S.summary.json and S.happiness.png into --out.\n"+
		"It exits 1 when any captured frame is not in the result (status incomplete).")
	var sf scoringFlags
	sf.register(fs)
	var nf natsFlags
	nf.register(fs)
	source := fs.String("source", "", "camera index, video file or stream URL (default: the bundled sample video)")
	session := fs.String("session", "", "session name: letters, digits, '-' and '_' (default: session-DATE-TIME)")
	participant := fs.String("participant", "", "participant ID (pseudonymous)")
	out := fs.String("out", "", "directory for the result files, written when the session ends (checked at the start)")
	markers := fs.String("markers", "", "CSV of stimulus markers (onset_ms,label,condition) to publish for a recorded video")
	fast := fs.Bool("fast", false, "play a video file as fast as it can be scored instead of at its own frame rate")
	dataDir := fs.String("data-dir", "", "embedded broker's JetStream store (default: "+defaultDataDirHelp()+")")
	natsPort := fs.Int("nats-port", broker.DefaultPort, "embedded broker's port on 127.0.0.1 (-1: any free port)")
	noAgg := fs.Bool("no-aggregate", false, "only publish; aggregate elsewhere with 'affect aggregate' (cannot be used with --out)")
	drain := fs.Duration("drain-timeout", live.DefaultDrainTimeout, "after the capture ends, how long to wait for the broker to acknowledge buffered frames and for the aggregation to receive them (0.7 s after Ctrl-C)")
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
	bc := nf.brokerConfig("affect session")
	if nf.url == "" {
		bc = live.BrokerConfig{Embedded: true, DataDir: *dataDir, Port: *natsPort, Name: "affect session"}
	}
	var status io.Writer
	if !*quiet {
		status = stdout
	}
	explicitHTTP := flagSet(fs, "http")
	_, err = live.RunSession(ctx, live.SessionConfig{
		Session: *session, Participant: *participant,
		Source: *source, Capture: sf.captureOptions(), Realtime: !*fast,
		Scorer: sf.scorerParams(), Workers: sf.workers, Markers: marks,
		Broker: bc,
		OnConnected: func(nc *nats.Conn) (func(), error) {
			return startDashboard(ctx, nc, *httpAddr, *httpToken, explicitHTTP, *session, stdout)
		},
		NoAggregate: *noAgg, Aggregation: cfg, Out: *out, Smooth: sf.smooth,
		DrainTimeout: *drain, Status: status, Stdout: stdout, Stderr: stderr,
	})
	if errors.Is(err, live.ErrConfig) {
		return usageError("%v", err)
	}
	return err
}

func defaultDataDirHelp() string {
	d, err := broker.DefaultDataDir()
	if err != nil {
		return "a per-user data directory"
	}
	return d
}
