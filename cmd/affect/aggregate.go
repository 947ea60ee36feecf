package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/affectlab/affect/live"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/smooth"
)

func init() {
	register(command{
		name:    "aggregate",
		summary: "aggregate a live session from NATS (durable; publishes summaries, writes results at its end)",
		run:     runAggregate,
	})
}

// LiveSummary is the summary JSON of a live session (live.Summary).
type LiveSummary = live.Summary

func runAggregate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("aggregate", stderr, "--session S [--out DIR] [flags]\n\n"+
		"Aggregates session S from NATS with a durable consumer: publishes a summary on\n"+
		"affect.S.summary every --interval and, when the session ends (a session_end\n"+
		"whose counts the frames that arrived match), writes S.frames.csv,\n"+
		"S.summary.json and S.happiness.png into --out. Stopped and run again, it\n"+
		"resumes where it left off. It exits 1 when the result is incomplete.")
	var nf natsFlags
	nf.register(fs)
	session := fs.String("session", "", "session name (required)")
	out := fs.String("out", "", "directory for the result files, written when the session ends (checked at the start)")
	dataDir := fs.String("data-dir", "", "no live broker: open the broker store in DIR (e.g. of a finished or crashed session) with an embedded server")
	name := fs.String("name", "aggregate", "durable consumer name; aggregators with different names each see every frame")
	wait := fs.Bool("wait", false, "wait for the session to start instead of failing")
	interval := fs.Duration("interval", time.Second, "how often to publish the live summary")
	idle := fs.Duration("idle-timeout", 0, "finish as 'incomplete' with what exists when no message arrives for this long and no session_end matches the frames (a crashed session); default 2s with --data-dir (nothing can add to a closed store), 0 (wait) otherwise")
	endGrace := fs.Duration("end-grace", 30*time.Second, "after a session_end whose frames have not all arrived, finish as 'incomplete' when no message arrives for this long")
	quiet := fs.Bool("quiet", false, "no status line per interval")
	smoothWin := fs.Duration("smooth", smooth.DefaultWindowMS*time.Millisecond, "centred window of the happiness_smoothed column of the result files (0: none)")
	httpAddr, httpToken := httpFlags(fs)
	noPlot := fs.Bool("no-plot", false, "do not write the PNG plot")
	cfg := aggregate.DefaultConfig()
	fs.Float64Var(&cfg.Threshold, "threshold", cfg.Threshold, "happiness at or above which a face frame counts as a smile")
	finishCfg := registerAggregateFlags(fs, &cfg)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := pipeline.ValidateSession(*session); err != nil {
		return usageError("--session: %v", err)
	}
	if err := finishCfg(); err != nil {
		return err
	}
	switch {
	case *smoothWin < 0:
		return usageError("--smooth %v must be ≥ 0", *smoothWin)
	case *interval <= 0:
		return usageError("--interval %v must be > 0", *interval)
	case *idle < 0 || *endGrace < 0:
		return usageError("--idle-timeout and --end-grace must be ≥ 0")
	case *dataDir != "" && nf.url != "":
		return usageError("--data-dir opens a local store; it cannot be used with --nats")
	}
	if *out != "" {
		if err := live.CheckWritable(*out); err != nil {
			return err
		}
	}
	bc := nf.brokerConfig("affect aggregate")
	if *dataDir != "" {
		bc = live.BrokerConfig{StoreOnly: true, DataDir: *dataDir, Name: "affect aggregate"}
		if !flagSet(fs, "idle-timeout") {
			*idle = 2 * time.Second
		}
	}
	conn, err := live.Connect(ctx, bc)
	if err != nil {
		return err
	}
	defer conn.Close()

	stopDashboard, err := startDashboard(ctx, conn.NC, *httpAddr, *httpToken, flagSet(fs, "http"), *session, stdout)
	if err != nil {
		return err
	}
	defer stopDashboard()
	var status io.Writer
	if !*quiet {
		status = stdout
	}
	la, err := live.NewAggregation(conn.JS, live.AggregationConfig{Session: *session, Name: *name, Config: cfg, Wait: *wait,
		Interval: *interval, Status: status, IdleTimeout: *idle, EndGrace: *endGrace, KeepFrames: *out != ""})
	if err != nil {
		return usageError("%v", err)
	}
	if err := la.Run(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			st := la.Consumer().Stats()
			fmt.Fprintf(stderr, "affect aggregate: stopped after %d frames; run it again to resume where it left off (durable consumer %s)\n", st.Frames, la.Consumer().Durable())
		}
		return err
	}
	ls := la.Finish(nil, 5*time.Second)
	la.Report(ls, stdout, stderr, "affect aggregate")
	if *out != "" {
		if err := la.WriteResults(*out, ls, !*noPlot, *smoothWin, stdout); err != nil {
			return err
		}
	}
	if ls.Status == live.StatusIncomplete {
		return fmt.Errorf("%w: %s", live.ErrIncomplete, ls.Why[0])
	}
	return nil
}
