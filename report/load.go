package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
)

// Errors of the loaders.
var (
	// ErrNoResults: a directory holds no complete affect result (no BASE.summary.json).
	ErrNoResults = errors.New("no affect results")
	// ErrIncomplete: a result lacks a file, or its files disagree.
	ErrIncomplete = errors.New("incomplete affect result")
	// ErrBadFile: a result file cannot be read as what it should be.
	ErrBadFile = errors.New("bad affect result file")
)

// resultSummary decodes the summary JSON of `affect score`
// (input/model/backend + aggregate.Summary) and of a live session's --out
// (source/status + aggregate.Summary) alike.
type resultSummary struct {
	Input     string  `json:"input"`
	Model     string  `json:"model"`
	Backend   string  `json:"backend"`
	Source    string  `json:"source"`
	Status    string  `json:"status"`
	ElapsedS  float64 `json:"elapsed_s"`
	ScoredFPS float64 `json:"scored_fps"`
	aggregate.Summary
}

// Bases lists the result bases in dir: the BASE of every BASE.summary.json
// (the summary is written last, so its presence marks a complete result).
func Bases(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var bases []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && strings.HasSuffix(n, export.SummarySuffix) && !strings.HasPrefix(n, ".") {
			bases = append(bases, strings.TrimSuffix(n, export.SummarySuffix))
		}
	}
	sort.Strings(bases)
	if len(bases) == 0 {
		var partial []string
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), export.FramesSuffix) {
				partial = append(partial, e.Name())
			}
		}
		if len(partial) > 0 {
			return nil, fmt.Errorf("%w in %s: %s has no %s beside it (the scoring or session did not finish; run it again)",
				ErrIncomplete, dir, strings.Join(partial, ", "), export.SummarySuffix)
		}
		return nil, fmt.Errorf("%w in %s: expected BASE%s and BASE%s, written by 'affect score --out DIR' or 'affect session --out DIR'",
			ErrNoResults, dir, export.SummarySuffix, export.FramesSuffix)
	}
	return bases, nil
}

// LoadResult reads the result files of base in dir: BASE.summary.json and
// BASE.frames.csv. Their frame counts must agree.
func LoadResult(dir, base string) (*Data, error) {
	paths := export.PathsFor(dir, base)
	b, err := os.ReadFile(paths.Summary)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is missing (the scoring or session of %q did not finish, or the name is wrong)", ErrIncomplete, paths.Summary, base)
	}
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var rs resultSummary
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadFile, paths.Summary, err)
	}
	if rs.Schema != aggregate.SummarySchemaVersion {
		return nil, fmt.Errorf("%w: %s has summary schema %d; this affect reads %d", ErrBadFile, paths.Summary, rs.Schema, aggregate.SummarySchemaVersion)
	}
	f, err := os.Open(paths.Frames)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is missing beside %s; the per-frame table is needed for the plot", ErrIncomplete, paths.Frames, filepath.Base(paths.Summary))
	}
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	frames, err := ReadFramesCSV(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadFile, paths.Frames, err)
	}
	if len(frames) != rs.Overall.Frames {
		return nil, fmt.Errorf("%w: %s has %d frames but %s counts %d: the two files are not from the same run",
			ErrIncomplete, paths.Frames, len(frames), filepath.Base(paths.Summary), rs.Overall.Frames)
	}
	session := rs.Session
	if session == "" {
		session = base
	}
	for i := range frames {
		frames[i].Session = session
	}
	d := &Data{
		Title:   base,
		Kind:    KindResult,
		Summary: rs.Summary,
		Frames:  frames,
		Meta: Meta{
			Input: rs.Input, Source: rs.Source, Model: rs.Model, Backend: rs.Backend, Status: rs.Status,
			Participant: rs.Participant, ScoredFPS: rs.ScoredFPS, ElapsedS: rs.ElapsedS,
			Files: []string{filepath.Base(paths.Summary), filepath.Base(paths.Frames)},
		},
	}
	for _, e := range rs.Epochs {
		d.Markers = append(d.Markers, record.Marker{OnsetMS: e.OnsetMS, Label: e.Label, Condition: e.Condition})
	}
	return d, nil
}

// ReadFramesCSV reads a per-frame CSV written by export (export.FramesReader,
// the one codec of the per-frame columns).
func ReadFramesCSV(r io.Reader) ([]record.FrameScore, error) { return export.ReadFramesCSV(r) }

// LoadSession reads a finished (or running) session back from the AFFECT
// stream: every frame and event stored so far. The summary is recomputed
// from the frames and markers with the settings of the session's last
// published summary (aggregate.DefaultConfig when none was published), so
// it equals what `affect aggregate` computed. The error wraps
// pipeline.ErrNoSession when the server holds nothing of the session.
func LoadSession(ctx context.Context, js jetstream.JetStream, session string) (*Data, error) {
	if err := pipeline.ValidateSession(session); err != nil {
		return nil, err
	}
	cfg := aggregate.DefaultConfig()
	if b, err := pipeline.LastSummary(ctx, js, session); err == nil {
		var last aggregate.Summary
		if json.Unmarshal(b, &last) == nil && last.Schema == aggregate.SummarySchemaVersion {
			cfg = configOf(last)
		}
	}
	agg, err := aggregate.New(cfg, aggregate.WithSession(session, ""), aggregate.WithFrames())
	if err != nil {
		return nil, err
	}
	d := &Data{Title: session, Kind: KindSession}
	// The same reader and checks as the live aggregator (pipeline.SessionState).
	state, err := pipeline.ReadStored(ctx, js, session, func(h pipeline.Handled) {
		switch h.Verdict {
		case pipeline.VerdictFrame:
			agg.Add(h.Frame)
		case pipeline.VerdictStart:
			st := *h.Event.Start
			d.Meta.Source, d.Meta.Participant = st.Source, st.Participant
			d.Meta.Model, d.Meta.Backend = st.Model, st.Backend
			if st.StartedUnixNano != 0 {
				d.Meta.Started = time.Unix(0, st.StartedUnixNano)
			}
			agg.SetMeta("", st.Participant)
			agg.SetModel(st.Model, st.ModelVersion, st.Backend)
		case pipeline.VerdictMarker:
			agg.AddMarker(*h.Event.Marker)
			d.Markers = append(d.Markers, *h.Event.Marker)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	n := state.Counts()
	es := state.End()
	del := aggregate.Delivery{Started: state.Start() != nil, Malformed: n.Malformed, UnknownSchema: n.UnknownSchema,
		Rejected: n.Rejected, RejectedTotal: n.RejectedTotal(), SessionEnds: es.Ends, SuspectEnds: es.Suspect}
	end := es.End
	if end == nil {
		end = es.Claimed
	}
	if end != nil {
		del.Ended = true
		del.PublishedFrames, del.UndeliveredFrames, del.CapturedFrames = end.Published, end.Undelivered, end.Frames
		d.Meta.Status = end.Reason
		if es.End == nil {
			d.Meta.Status = fmt.Sprintf("incomplete: the session_end counts %d frames, %d valid ones are stored", end.Published, n.Frames)
		}
		if end.EndedUnixNano != 0 {
			d.Meta.Ended = time.Unix(0, end.EndedUnixNano)
		}
	}
	agg.SetDelivery(del)
	d.Summary = agg.Summary()
	d.Frames = agg.Frames()
	if end == nil {
		d.Meta.Status = "no session_end yet: still running, or interrupted without ending"
	}
	d.Meta.Files = []string{"NATS stream " + pipeline.StreamName}
	return d, nil
}

// configOf returns the aggregation settings a summary was computed with.
func configOf(s aggregate.Summary) aggregate.Config {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	c := aggregate.Config{
		Threshold: s.Threshold, Window: ms(s.WindowMS), Baseline: ms(s.BaselineMS),
		ResponseFrom: ms(s.ResponseFromMS), ResponseTo: ms(s.ResponseToMS),
		ExcludeLowQuality: s.ExcludeLowQuality,
	}
	if s.Calibration != nil {
		c.CalibrationMS = s.Calibration.UntilMS
	}
	if c.Validate() != nil {
		return aggregate.DefaultConfig()
	}
	return c
}
