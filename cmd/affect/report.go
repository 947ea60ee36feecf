package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/broker"
	"github.com/affectlab/affect/report"
)

func init() {
	register(command{
		name:    "report",
		summary: "write a self-contained HTML report (and PNG) of scored results or a finished session",
		run:     runReport,
	})
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("report", stderr, "SESSION_OR_DIR [--out FILE.html] [flags]\n\n"+
		"DIR is an output folder of 'affect score --out DIR' or 'affect session --out DIR':\n"+
		"one report per result (BASE.summary.json + BASE.frames.csv), written as\n"+
		"DIR/BASE.report.html, or only --base NAME. A BASE.summary.json file names one result.\n"+
		"SESSION is a session stored in NATS: the broker of a running 'affect session'\n"+
		"(or --nats URL), else the embedded broker's store (--data-dir, default "+defaultDataDirHelp()+").\n"+
		"Each report is ONE HTML file that opens offline, with FILE.png beside it.")
	var nf natsFlags
	nf.register(fs)
	out := fs.String("out", "", "the HTML file to write (one report only; default DIR/BASE.report.html or SESSION.report.html)")
	base := fs.String("base", "", "in a DIR with several results, report only BASE")
	dataDir := fs.String("data-dir", "", "read the session from this broker store with an embedded server (when no broker runs)")
	noPNG := fs.Bool("no-png", false, "write only the HTML, no PNG beside it")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("give one SESSION or DIR (got %d arguments)", len(pos))
	}
	if *out != "" && !strings.EqualFold(filepath.Ext(*out), ".html") && !strings.EqualFold(filepath.Ext(*out), ".htm") {
		return usageError("--out %q: the report is an HTML file; name it FILE.html", *out)
	}
	target := pos[0]
	opts := report.Options{NoPNG: *noPNG}

	var jobs []reportJob
	if st, err := os.Stat(target); err == nil {
		if *dataDir != "" || nf.url != "" {
			return usageError("%s is a directory of result files: --nats and --data-dir are for a SESSION", target)
		}
		dir := target
		var bases []string
		switch {
		case !st.IsDir() && strings.HasSuffix(target, export.SummarySuffix):
			dir = filepath.Dir(target)
			bases = []string{strings.TrimSuffix(filepath.Base(target), export.SummarySuffix)}
		case !st.IsDir():
			return usageError("%s is a file; give the result directory, its BASE%s, or a session name", target, export.SummarySuffix)
		case *base != "":
			bases = []string{*base}
		default:
			if bases, err = report.Bases(dir); err != nil {
				return err
			}
		}
		if *out != "" && len(bases) > 1 {
			return usageError("%s holds %d results (%s): --out names one file; choose one with --base NAME, or leave out --out",
				dir, len(bases), strings.Join(bases, ", "))
		}
		for _, b := range bases {
			d, err := report.LoadResult(dir, b)
			if err != nil {
				return err
			}
			path := *out
			if path == "" {
				path = filepath.Join(dir, b+".report.html")
			}
			jobs = append(jobs, reportJob{d, path})
		}
	} else {
		if err := pipeline.ValidateSession(target); err != nil {
			return fmt.Errorf("%s is neither a directory nor a file here, nor a session name: %v", target, err)
		}
		if *base != "" {
			return usageError("--base is for a directory of results, not a session")
		}
		d, err := loadStoredSession(ctx, target, nf, *dataDir)
		if err != nil {
			return err
		}
		path := *out
		if path == "" {
			path = target + ".report.html"
		}
		jobs = append(jobs, reportJob{d, path})
	}
	for _, j := range jobs {
		p, err := report.Write(j.path, j.data, opts)
		if err != nil {
			return err
		}
		o := j.data.Summary.Overall
		fmt.Fprintf(stdout, "%s: %d frames, %d with a face, mean happiness %s, %d epochs -> %s", j.data.Title, o.Frames, o.FaceFrames, fmtPtr(o.Mean), len(j.data.Summary.Epochs), p.HTML)
		if p.PNG != "" {
			fmt.Fprintf(stdout, " (+ %s)", filepath.Base(p.PNG))
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

type reportJob struct {
	data *report.Data
	path string
}

// loadStoredSession reads a session from --nats, from --data-dir with an
// embedded server, or (neither given) from a running session's broker and,
// if none runs, from the default data directory.
func loadStoredSession(ctx context.Context, session string, nf natsFlags, dataDir string) (*report.Data, error) {
	if dataDir != "" && nf.url != "" {
		return nil, usageError("--data-dir opens a local store; it cannot be used with --nats")
	}
	openStore := func(dir string) (*report.Data, error) {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("broker store: %w", err)
		}
		srv, err := broker.Start(broker.Config{DataDir: dir, Port: broker.RandomPort})
		if errors.Is(err, broker.ErrDataDirInUse) {
			return nil, fmt.Errorf("%w: a running affect process holds %s; give its broker with --nats URL", err, dir)
		}
		if err != nil {
			return nil, err
		}
		defer srv.Shutdown()
		return loadFrom(ctx, srv.ClientURL(), session, nf)
	}
	if dataDir != "" {
		return openStore(dataDir)
	}
	if nf.url != "" {
		return loadFrom(ctx, nf.url, session, nf)
	}
	d, err := loadFrom(ctx, broker.DefaultURL, session, nf)
	if errors.Is(err, broker.ErrUnreachable) {
		def, derr := broker.DefaultDataDir()
		if derr != nil {
			return nil, err
		}
		if _, serr := os.Stat(def); serr != nil {
			return nil, fmt.Errorf("no broker runs at %s and there is no broker store at %s: give --nats URL or --data-dir DIR", broker.DefaultURL, def)
		}
		return openStore(def)
	}
	return d, err
}

func loadFrom(ctx context.Context, url, session string, nf natsFlags) (*report.Data, error) {
	nf.url = url
	nc, js, err := nf.connect("affect report")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	lctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	return report.LoadSession(lctx, js, session)
}
