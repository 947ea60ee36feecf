package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/affectlab/affect/record"
	"io"
	"os"
	"time"

	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/pipeline/broker"
	"github.com/affectlab/affect/smooth"
)

func init() {
	register(command{
		name:    "aggregate",
		summary: "aggregate a live session from NATS (durable; publishes summaries, writes results at its end)",
		run:     runAggregate,
	})
}

// LiveSummary is the summary JSON that `affect aggregate` writes when the
// session ends: the aggregate summary plus how the session was received.
type LiveSummary struct {
	// Source is the session's frame source (from session_start).
	Source string `json:"source"`
	// Status is "complete" when every frame the session produced was
	// aggregated; "incomplete" when frames were not delivered (see delivery);
	// "interrupted" (Ctrl-C) or "failed: REASON" when the capture stopped early.
	// A camera or stream with gaps, or lost, makes it "incomplete" (or
	// "interrupted" on Ctrl-C), with the gaps in Gaps.
	Status string `json:"status"`
	// Gaps are the capture's gaps from session_end (issue 9, defect 8).
	Gaps     []record.Gap           `json:"gaps,omitempty"`
	Consumer pipeline.ConsumerStats `json:"consumer"`
	aggregate.Summary
}

func runAggregate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("aggregate", stderr, "--session S [--out DIR] [flags]\n\n"+
		"Aggregates session S from NATS with a durable consumer: publishes a summary on\n"+
		"affect.S.summary every --interval and, when the session ends, writes\n"+
		"S.frames.csv, S.summary.json and S.happiness.png into --out. Stopped and run\n"+
		"again, it resumes where it left off.")
	var nf natsFlags
	nf.register(fs)
	session := fs.String("session", "", "session name (required)")
	out := fs.String("out", "", "directory for the result files, written when the session ends")
	dataDir := fs.String("data-dir", "", "no live broker: open the broker store in DIR (e.g. of a finished session) with an embedded server")
	name := fs.String("name", "aggregate", "durable consumer name; aggregators with different names each see every frame")
	wait := fs.Bool("wait", false, "wait for the session to start instead of failing")
	interval := fs.Duration("interval", time.Second, "how often to publish the live summary")
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
	if *smoothWin < 0 {
		return usageError("--smooth %v must be ≥ 0", *smoothWin)
	}
	if *interval <= 0 {
		return usageError("--interval %v must be > 0", *interval)
	}
	if *dataDir != "" && nf.url != "" {
		return usageError("--data-dir opens a local store; it cannot be used with --nats")
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return fmt.Errorf("creating --out directory: %w", err)
		}
	}

	if *dataDir != "" {
		if _, err := os.Stat(*dataDir); err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
		srv, err := broker.Start(broker.Config{DataDir: *dataDir, Port: broker.RandomPort})
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		nf.url = srv.ClientURL()
	}
	nc, js, err := nf.connectStreams(ctx, "affect aggregate")
	if err != nil {
		return err
	}
	defer nc.Close()

	stopDashboard, err := startDashboard(ctx, nc, *httpAddr, *httpToken, flagSet(fs, "http"), *session, stdout)
	if err != nil {
		return err
	}
	defer stopDashboard()
	var status io.Writer
	if !*quiet {
		status = stdout
	}
	la, err := newLiveAggregation(js, *session, *name, cfg, *wait, *interval, status)
	if err != nil {
		return err
	}
	if err := la.run(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			st := la.cons.Stats()
			fmt.Fprintf(stderr, "affect aggregate: stopped after %d frames; run it again to resume where it left off (durable consumer %s)\n", st.Frames, la.cons.Durable())
		}
		return err
	}
	ls := la.finish()
	la.report(ls, stdout, stderr, "affect aggregate")
	if *out == "" {
		return nil
	}
	return writeLiveResults(*out, *session, la.agg, ls, !*noPlot, *smoothWin, stdout)
}

// setDelivery copies the consumer's counts into the aggregator's summary.
func setDelivery(agg *aggregate.Aggregator, cons *pipeline.Consumer) {
	st := cons.Stats()
	d := aggregate.Delivery{Started: cons.Start() != nil, Malformed: st.Malformed, UnknownSchema: st.UnknownSchema}
	if e := cons.End(); e != nil {
		d.Ended = true
		d.PublishedFrames, d.UndeliveredFrames = e.Published, e.Undelivered
	}
	agg.SetDelivery(d)
}

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
	fmt.Fprintf(w, "t=%.1fs frames %d face %s mean %s rolling %s epochs %d\n", t, o.Frames, face, fmtPtr(o.Mean), fmtPtr(r.Mean), len(s.Epochs))
}

// writeLiveResults writes the per-frame CSV, the plot and the summary JSON
// together or not at all, the summary last (export.ResultWriter; issue 9
// defect 6, offline helper).
func writeLiveResults(dir, session string, agg *aggregate.Aggregator, ls LiveSummary, plot bool, smoothWindow time.Duration, stdout io.Writer) error {
	paths := export.PathsFor(dir, session)
	frames := agg.Frames()
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
		po = &export.PlotOptions{Title: session, Threshold: ls.Threshold, Markers: pm}
	}
	if err := res.Commit(float64(smoothWindow)/float64(time.Millisecond), po, ls); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", paths.Frames, paths.Summary)
	return nil
}
