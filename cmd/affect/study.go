package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/study"
)

func init() {
	register(command{
		name:    "study",
		summary: "whole studies over NATS: submit a manifest, watch its status, get the tidy table and the study report",
		run:     runStudy,
	})
	register(command{
		name:    "worker",
		summary: "score study jobs from NATS (run any number, on any machines)",
		run:     runWorker,
	})
}

const studyUsage = `SUBCOMMAND ...

Subcommands:
  submit MANIFEST --study NAME   one job per manifest row (idempotent)
  status NAME [--watch]          jobs queued, running (worker, progress, ETA), done, failed
  table NAME --out FILE.csv      tidy long table of every done job
  report NAME --out FILE.html    self-contained HTML study report
  gc [--min-age 1h] [--dry-run]  remove the chunks of uploads that never finished

The manifest is a CSV with the columns participant,session,condition,source
and optionally markers (a marker CSV), group and calibration (e.g. 20s).`

func runStudy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stderr, "Usage: affect study %s\n", studyUsage)
		if len(args) == 0 {
			return usageError("no subcommand")
		}
		return nil
	}
	switch args[0] {
	case "submit":
		return runStudySubmit(ctx, args[1:], stdout, stderr)
	case "status":
		return runStudyStatus(ctx, args[1:], stdout, stderr)
	case "table":
		return runStudyTable(ctx, args[1:], stdout, stderr)
	case "report":
		return runStudyReport(ctx, args[1:], stdout, stderr)
	case "gc":
		return runStudyGC(ctx, args[1:], stdout, stderr)
	}
	return usageError("unknown subcommand %q (submit, status, table, report, gc)", args[0])
}

// studyConn connects with the NATS flags and makes sure the study
// resources exist.
func studyConn(ctx context.Context, nf *natsFlags, name string, setup study.Setup) (*nats.Conn, *study.Resources, error) {
	nc, js, err := nf.connect(name)
	if err != nil {
		return nil, nil, err
	}
	res, err := study.Ensure(ctx, js, setup)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, res, nil
}

func runStudySubmit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("study submit", stderr, "MANIFEST --study NAME [flags]\n\nMANIFEST: CSV with participant,session,condition,source[,markers,group,calibration].")
	var nf natsFlags
	nf.register(fs)
	var sf scoringFlags
	sf.register(fs)
	name := fs.String("study", "", "study name (letters, digits, '-', '_'; required)")
	upload := fs.Bool("upload", false, "put the videos into the NATS object store (workers need no shared file system)")
	pseud := fs.Bool("pseudonymise", false, "replace participant IDs by a keyed hash (HMAC-SHA256) before anything is sent; key from --pseudonym-key or $AFFECT_PSEUDONYM_KEY")
	keyFile := fs.String("pseudonym-key", "", "file with the pseudonymisation key (at least 16 bytes; keep it secret and keep it: the same key gives the same pseudonyms)")
	retry := fs.Bool("retry-failed", false, "queue this manifest's failed jobs again")
	replicas := fs.Int("replicas", 1, "replicas of the study streams and buckets when they are created (3 on a 3-node cluster)")
	ackWait := fs.Duration("ack-wait", study.DefaultAckWait, "when the jobs consumer is created: how long a job may go without a worker heartbeat before another worker gets it")
	maxDeliver := fs.Int("max-deliver", study.DefaultMaxDeliver, "when the jobs consumer is created: deliveries of a job before it is marked failed")
	cfg := aggregate.DefaultConfig()
	finishCfg := registerAggregateFlags(fs, &cfg)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := sf.validate(); err != nil {
		return err
	}
	cfg.Threshold = sf.threshold
	if err := finishCfg(); err != nil {
		return err
	}
	if cfg.CalibrationMS != 0 {
		return usageError("--calibration: give each video's calibration in the manifest's calibration column")
	}
	if len(pos) != 1 {
		return usageError("give exactly one MANIFEST")
	}
	if err := study.ValidateName(*name); err != nil {
		return usageError("--study: %v", err)
	}
	if *replicas < 1 || *maxDeliver < 1 || *ackWait < time.Second {
		return usageError("--replicas and --max-deliver must be ≥ 1, --ack-wait ≥ 1s")
	}
	rows, err := study.ReadManifestFile(pos[0])
	if err != nil {
		return err
	}
	if *pseud {
		key, err := pseudonymKey(*keyFile)
		if err != nil {
			return err
		}
		p, err := study.NewPseudonymiser(key)
		if err != nil {
			return usageError("%v", err)
		}
		p.Apply(rows)
	}
	params := study.ParamsFrom(sf.fileOptions(cfg, nil, true))
	nc, res, err := studyConn(ctx, &nf, "affect study submit", study.Setup{Replicas: *replicas, AckWait: *ackWait, MaxDeliver: *maxDeliver})
	if err != nil {
		return err
	}
	defer nc.Close()
	rep, err := study.Submit(ctx, res, *name, rows, study.SubmitOptions{Params: params, Upload: *upload, RetryFailed: *retry,
		Progress: func(r study.Row, outcome string) {
			fmt.Fprintf(stderr, "line %d %s/%s/%s: %s\n", r.Line, r.Participant, r.Session, r.Condition, outcome)
		}})
	fmt.Fprintf(stdout, "study %s: %d rows, %d new jobs, %d already submitted, %d queued again, %d videos uploaded\n",
		*name, len(rows), rep.New, rep.Existing, rep.Retried, rep.Uploaded)
	return err
}

func pseudonymKey(file string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading --pseudonym-key: %w", err)
		}
		return b, nil
	}
	if k := os.Getenv("AFFECT_PSEUDONYM_KEY"); k != "" {
		return []byte(k), nil
	}
	return nil, usageError("--pseudonymise needs a key: --pseudonym-key FILE or $AFFECT_PSEUDONYM_KEY")
}

// parseStudyName parses a study subcommand's flags and its one NAME argument.
func parseStudyName(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usageError("give exactly one study NAME")
	}
	if err := study.ValidateName(pos[0]); err != nil {
		return "", usageError("%v", err)
	}
	return pos[0], nil
}

func runStudyStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("study status", stderr, "NAME [flags]")
	var nf natsFlags
	nf.register(fs)
	watch := fs.Bool("watch", false, "keep showing a progress bar across all workers until every job is done or failed")
	every := fs.Duration("every", time.Second, "refresh interval of --watch")
	name, err := parseStudyName(fs, args)
	if err != nil {
		return err
	}
	nc, res, err := studyConn(ctx, &nf, "affect study status", study.Setup{})
	if err != nil {
		return err
	}
	defer nc.Close()
	tty := isTerminal(stderr)
	for {
		st, err := study.ReadStatus(ctx, res, name)
		if err != nil {
			return err
		}
		if !*watch || st.Finished() {
			if *watch && tty {
				fmt.Fprintf(stderr, "\r%s\n", st.Bar(30))
			}
			st.WriteText(stdout, time.Now())
			if st.Failed > 0 {
				return fmt.Errorf("%d of %d jobs failed (see above; fix and resubmit with --retry-failed)", st.Failed, st.Total())
			}
			return nil
		}
		if tty {
			fmt.Fprintf(stderr, "\r%s", st.Bar(30))
		} else {
			fmt.Fprintln(stderr, st.Bar(30))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(*every):
		}
	}
}

func runStudyTable(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("study table", stderr, "NAME --out FILE.csv [flags]")
	var nf natsFlags
	nf.register(fs)
	out := fs.String("out", "", "CSV file to write (required; '-' for standard output)")
	partial := fs.Bool("partial", false, "write the table even when some jobs are not done (they are listed on standard error)")
	name, err := parseStudyName(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return usageError("--out FILE.csv is required")
	}
	nc, res, err := studyConn(ctx, &nf, "affect study table", study.Setup{})
	if err != nil {
		return err
	}
	defer nc.Close()
	st, done, err := study.LoadDone(ctx, res, name)
	if err != nil {
		return err
	}
	missing := st.Total() - len(done)
	if missing > 0 {
		for _, r := range st.Records {
			if r.State != study.StateDone {
				fmt.Fprintf(stderr, "not in the table: line %d %s/%s/%s: %s %s\n", r.Job.Line, r.Job.Participant, r.Job.Session, r.Job.Condition, r.State, r.Error)
			}
		}
		if !*partial {
			return fmt.Errorf("%d of %d jobs are not done; no table written (wait, see 'affect study status %s', or give --partial)", missing, st.Total(), name)
		}
	}
	var buf bytes.Buffer
	n, err := study.WriteTable(&buf, done)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = stdout.Write(buf.Bytes())
		return err
	}
	if err := export.WriteFile(*out, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "study %s: %d rows from %d of %d videos -> %s\n", name, n, len(done), st.Total(), *out)
	if missing > 0 {
		return fmt.Errorf("the table is partial: %d of %d jobs are not done", missing, st.Total())
	}
	return nil
}

func runStudyReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("study report", stderr, "NAME [--out FILE.html] [flags]")
	var nf natsFlags
	nf.register(fs)
	out := fs.String("out", "", "HTML file to write (default NAME.html)")
	name, err := parseStudyName(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = name + ".html"
	}
	nc, res, err := studyConn(ctx, &nf, "affect study report", study.Setup{})
	if err != nil {
		return err
	}
	defer nc.Close()
	st, done, err := study.LoadDone(ctx, res, name)
	if err != nil {
		return err
	}
	d := study.BuildReport(st, done, time.Now())
	if err := export.WriteFile(*out, func(w io.Writer) error { return study.WriteReport(w, d) }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "study %s: %d of %d videos done, %d failed -> %s\n", name, st.Done, st.Total(), st.Failed, *out)
	return nil
}

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("worker", stderr, "[flags]\n\nPulls study jobs and scores them until interrupted; Ctrl-C hands the current job back.")
	var nf natsFlags
	nf.register(fs)
	id := fs.String("id", "", "worker name in job status (default: host name and process ID)")
	scorers := fs.Int("workers", 0, "parallel scorers per job (0: one per CPU)")
	tmp := fs.String("tmp", "", "folder for a job's files while it runs (default: the system's)")
	replicas := fs.Int("replicas", 1, "replicas of the study streams and buckets if this worker creates them")
	opTimeout := fs.Duration("op-timeout", study.DefaultOpTimeout, "longest wait for one request to the server (a reply lost in a cluster fail-over is then retried); video and result transfers get this plus 1 s per MiB")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("unexpected argument %q", pos[0])
	}
	if *scorers < 0 {
		return usageError("--workers %d must be ≥ 0", *scorers)
	}
	if *opTimeout < time.Second {
		return usageError("--op-timeout %v must be at least 1s", *opTimeout)
	}
	nc, res, err := studyConn(ctx, &nf, "affect worker", study.Setup{Replicas: *replicas})
	if err != nil {
		return err
	}
	defer nc.Close()
	w := &study.Worker{Res: res, ID: *id, Scorers: *scorers, TempDir: *tmp, OpTimeout: *opTimeout}
	st, err := w.Run(ctx)
	fmt.Fprintf(stdout, "worker %s: %d jobs done, %d failed, %d retried, %d handed back\n", w.ID, st.Done, st.Failed, st.Retried, st.Returned)
	return err // nil after Ctrl-C: that is how a worker stops
}

func runStudyGC(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("study gc", stderr, "[flags]\n\nRemoves from the results and videos object stores the chunks of uploads that\nnever finished (a worker or 'study submit --upload' killed mid-upload).")
	var nf natsFlags
	nf.register(fs)
	minAge := fs.Duration("min-age", study.DefaultOrphanAge, "leave alone an unfinished upload whose newest chunk is younger than this (it may still be running)")
	dry := fs.Bool("dry-run", false, "only report what would be removed")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("unexpected argument %q", pos[0])
	}
	if *minAge < time.Minute {
		return usageError("--min-age %v must be at least 1m: a younger upload may still be running", *minAge)
	}
	nc, res, err := studyConn(ctx, &nf, "affect study gc", study.Setup{})
	if err != nil {
		return err
	}
	defer nc.Close()
	reps, err := study.CollectOrphans(ctx, res, *minAge, *dry)
	verb := "removed"
	if *dry {
		verb = "would remove"
	}
	for _, r := range reps {
		fmt.Fprintf(stdout, "%s: %s %d unfinished uploads (%d chunks); %d younger than %v left alone\n", r.Bucket, verb, r.Uploads, r.Chunks, r.Recent, *minAge)
	}
	return err
}
