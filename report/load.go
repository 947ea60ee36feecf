package report

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
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

// ReadFramesCSV reads a per-frame CSV written by export (columns named by
// export.FramesHeader, in any order; frame, time_ms and face_found are
// required). A row with face_found=1 gets a primary face; its empty
// happiness is an error. Errors name the line.
func ReadFramesCSV(r io.Reader) ([]record.FrameScore, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty (expected a header line)")
	}
	if err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	for _, req := range []string{"frame", "time_ms", "face_found", "happiness"} {
		if _, ok := col[req]; !ok {
			return nil, fmt.Errorf("line 1: no column %q; is this a per-frame CSV of 'affect score'? (columns: %s)", req, strings.Join(export.FramesHeader, ","))
		}
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	var out []record.FrameScore
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		bad := func(what string, err error) error { return fmt.Errorf("line %d: %s: %v", line, what, err) }
		var f record.FrameScore
		f.Schema = record.SchemaVersion
		if f.Frame, err = strconv.ParseInt(get(rec, "frame"), 10, 64); err != nil {
			return nil, bad("frame", err)
		}
		if f.MediaMS, err = strconv.ParseFloat(get(rec, "time_ms"), 64); err != nil {
			return nil, bad("time_ms", err)
		}
		if v := get(rec, "capture_unix_ms"); v != "" {
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, bad("capture_unix_ms", err)
			}
			f.CaptureUnixNano = ms * int64(time.Millisecond)
		}
		if v := get(rec, "n_faces"); v != "" {
			if f.NFaces, err = strconv.Atoi(v); err != nil {
				return nil, bad("n_faces", err)
			}
		}
		f.Error = get(rec, "error")
		switch ff := get(rec, "face_found"); ff {
		case "0":
		case "1":
			p := &record.Face{}
			if p.Happiness, err = strconv.ParseFloat(get(rec, "happiness"), 64); err != nil || p.Happiness < 0 || p.Happiness > 1 {
				return nil, bad("happiness of a frame with a face", fmt.Errorf("%q is not a number in [0,1]", get(rec, "happiness")))
			}
			for i, name := range record.Labels {
				if v := get(rec, name); v != "" {
					if p.Probs[i], err = strconv.ParseFloat(v, 64); err != nil {
						return nil, bad(name, err)
					}
				}
			}
			for _, b := range []struct {
				name string
				dst  *int
			}{{"x", &p.Box.X}, {"y", &p.Box.Y}, {"w", &p.Box.W}, {"h", &p.Box.H}} {
				if v := get(rec, b.name); v != "" {
					if *b.dst, err = strconv.Atoi(v); err != nil {
						return nil, bad(b.name, err)
					}
				}
			}
			if v := get(rec, "face_frac"); v != "" {
				q := &record.Quality{}
				if q.FaceFrac, err = strconv.ParseFloat(v, 64); err != nil {
					return nil, bad("face_frac", err)
				}
				q.Low = get(rec, "low_quality") == "1"
				for _, c := range []struct {
					name string
					dst  *float64
				}{{"sharpness", &q.Sharpness}, {"symmetry", &q.Symmetry}} {
					if v := get(rec, c.name); v != "" {
						if *c.dst, err = strconv.ParseFloat(v, 64); err != nil {
							return nil, bad(c.name, err)
						}
					}
				}
				if v := get(rec, "detect_neighbors"); v != "" {
					n, err := strconv.Atoi(v)
					if err != nil {
						return nil, bad("detect_neighbors", err)
					}
					q.DetectNeighbors = &n
				}
				p.Quality = q
			}
			f.FaceFound, f.Primary = true, p
		default:
			return nil, bad("face_found", fmt.Errorf("%q is neither 0 nor 1", ff))
		}
		out = append(out, f)
	}
}

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
	ok, err := pipeline.SessionExists(ctx, js, session)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q: the NATS server holds no message of it; check the name (the dashboard lists the sessions) and --nats or --data-dir", pipeline.ErrNoSession, session)
	}
	cfg := aggregate.DefaultConfig()
	if b, err := pipeline.LastSummary(ctx, js, session); err == nil {
		var last aggregate.Summary
		if json.Unmarshal(b, &last) == nil && last.Schema == aggregate.SummarySchemaVersion {
			cfg = configOf(last)
		}
	}
	agg, err := aggregate.New(cfg, aggregate.WithSession(session, ""))
	if err != nil {
		return nil, err
	}
	c, err := js.OrderedConsumer(ctx, pipeline.StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{pipeline.FramesSubject(session), pipeline.EventsSubject(session)},
	})
	if err != nil {
		return nil, fmt.Errorf("report: reading session %q: %w", session, err)
	}
	it, err := c.Messages()
	if err != nil {
		return nil, fmt.Errorf("report: reading session %q: %w", session, err)
	}
	defer it.Stop()
	d := &Data{Title: session, Kind: KindSession}
	var del aggregate.Delivery
	for {
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		msg, err := it.Next(jetstream.NextContext(nctx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("report: reading session %q: %w", session, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return nil, fmt.Errorf("report: reading session %q: %w", session, err)
		}
		if strings.HasSuffix(msg.Subject(), ".frames") {
			f, err := pipeline.DecodeFrame(msg.Data())
			switch {
			case errors.Is(err, pipeline.ErrUnknownSchema):
				del.UnknownSchema++
			case err != nil || f.Session != session:
				del.Malformed++
			default:
				agg.Add(f)
			}
		} else {
			e, err := pipeline.DecodeEvent(msg.Data())
			switch {
			case errors.Is(err, pipeline.ErrUnknownSchema):
				del.UnknownSchema++
			case err != nil || e.Session != session:
				del.Malformed++
			case e.Type == pipeline.EventSessionStart:
				del.Started = true
				st := *e.Start
				d.Meta.Source, d.Meta.Participant = st.Source, st.Participant
				if st.StartedUnixNano != 0 {
					d.Meta.Started = time.Unix(0, st.StartedUnixNano)
				}
				agg.SetMeta("", st.Participant)
			case e.Type == pipeline.EventMarker:
				agg.AddMarker(*e.Marker)
				d.Markers = append(d.Markers, *e.Marker)
			case e.Type == pipeline.EventSessionEnd:
				del.Ended = true
				del.PublishedFrames, del.UndeliveredFrames = e.End.Published, e.End.Undelivered
				d.Meta.Status = e.End.Reason
				if e.End.EndedUnixNano != 0 {
					d.Meta.Ended = time.Unix(0, e.End.EndedUnixNano)
				}
			}
		}
		if md.NumPending == 0 {
			break
		}
	}
	agg.SetDelivery(del)
	d.Summary = agg.Summary()
	d.Frames = agg.Frames()
	if !del.Ended {
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
	}
	if s.Calibration != nil {
		c.CalibrationMS = s.Calibration.UntilMS
	}
	if c.Validate() != nil {
		return aggregate.DefaultConfig()
	}
	return c
}
