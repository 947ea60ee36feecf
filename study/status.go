package study

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/offline"
)

// Status is the state of a study's jobs.
type Status struct {
	Study string
	// Records are the study's job records, in manifest line order.
	Records []Record
	// Counts per state.
	Queued, Running, Retrying, Done, Failed int
	// FramesDone and FramesTotal over running and done jobs whose total is known.
	FramesDone, FramesTotal int64
}

// Total is the number of jobs.
func (s *Status) Total() int { return len(s.Records) }

// Finished says whether every job is done or failed.
func (s *Status) Finished() bool { return s.Done+s.Failed == len(s.Records) }

// ReadStatus reads every job record of study. The error wraps ErrNoStudy
// when the study has no jobs.
func ReadStatus(ctx context.Context, res *Resources, study string) (*Status, error) {
	if err := ValidateName(study); err != nil {
		return nil, err
	}
	w, err := res.Status.Watch(ctx, study+".job.*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("reading study %s: %w", study, err)
	}
	defer w.Stop()
	st := &Status{Study: study}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("reading study %s: watcher closed", study)
			}
			if e == nil { // all current values delivered
				if len(st.Records) == 0 {
					return nil, fmt.Errorf("%w %q on this NATS server: submit it with 'affect study submit MANIFEST --study %s'", ErrNoStudy, study, study)
				}
				sort.Slice(st.Records, func(a, b int) bool { return st.Records[a].Job.Line < st.Records[b].Job.Line })
				return st, nil
			}
			r, err := decodeRecord(e.Value())
			if err != nil {
				return nil, fmt.Errorf("job record %s: %w", e.Key(), err)
			}
			if r.Job.Study != study || r.Job.Key() != e.Key() {
				return nil, fmt.Errorf("%w: record %s names job %s", ErrBadJob, e.Key(), r.Job.Key())
			}
			st.Records = append(st.Records, r)
			switch r.State {
			case StateQueued:
				st.Queued++
			case StateRunning:
				st.Running++
			case StateRetrying:
				st.Retrying++
			case StateDone:
				st.Done++
			case StateFailed:
				st.Failed++
			}
			if r.FramesTotal > 0 && (r.State == StateRunning || r.State == StateDone) {
				st.FramesDone += r.FramesDone
				st.FramesTotal += r.FramesTotal
			}
		}
	}
}

// WriteText prints the status: counts, then running jobs (worker,
// progress, ETA) and failed or retrying jobs with their errors.
func (s *Status) WriteText(w io.Writer, now time.Time) {
	fmt.Fprintf(w, "study %s: %d of %d done, %d running, %d queued, %d retrying, %d failed\n",
		s.Study, s.Done, s.Total(), s.Running, s.Queued, s.Retrying, s.Failed)
	for _, r := range s.Records {
		j := r.Job
		who := fmt.Sprintf("line %d %s/%s/%s (%s)", j.Line, j.Participant, j.Session, j.Condition, j.ID)
		switch r.State {
		case StateRunning:
			prog := fmt.Sprintf("%d frames", r.FramesDone)
			if r.FramesTotal > 0 {
				prog = fmt.Sprintf("%d/%d frames (%.0f%%), ETA %s", r.FramesDone, r.FramesTotal,
					100*float64(r.FramesDone)/float64(r.FramesTotal), (time.Duration(r.ETAS) * time.Second).String())
			}
			stale := ""
			if age := now.Sub(r.UpdatedAt); age > 2*time.Minute {
				stale = fmt.Sprintf("; no news for %s (worker gone? the job is delivered again after the consumer's AckWait)", age.Round(time.Second))
			}
			fmt.Fprintf(w, "  running   %s on %s, attempt %d: %s%s\n", who, r.Worker, r.Attempt, prog, stale)
		case StateRetrying:
			fmt.Fprintf(w, "  retrying  %s after attempt %d: %s\n", who, r.Attempt, r.Error)
		case StateFailed:
			fmt.Fprintf(w, "  FAILED    %s: %s\n", who, r.Error)
		}
	}
}

// Bar is a one-line progress bar across all workers.
func (s *Status) Bar(width int) string {
	frac := 0.0
	if n := s.Total(); n > 0 {
		// Jobs count fully when finished, by frames while running.
		f := float64(s.Done + s.Failed)
		for _, r := range s.Records {
			if r.State == StateRunning && r.FramesTotal > 0 {
				f += float64(r.FramesDone) / float64(r.FramesTotal)
			}
		}
		frac = f / float64(n)
	}
	fill := int(frac * float64(width))
	return fmt.Sprintf("[%s%s] %3.0f%%  %d/%d done, %d running, %d failed", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
		100*frac, s.Done, s.Total(), s.Running, s.Failed)
}

// ErrDigest is wrapped when a stored result does not match its record.
var ErrDigest = errors.New("stored result does not match its record")

// TimesDone counts how often the record of the job went to done in its
// status history (the bucket keeps 16 revisions): 1 for a job scored exactly
// once. A finished record is never overwritten, so more than 1 is a defect.
func TimesDone(ctx context.Context, res *Resources, j *Job) (int, error) {
	hist, err := res.Status.History(ctx, j.Key())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range hist {
		if r, err := decodeRecord(e.Value()); err == nil && r.State == StateDone {
			n++
		}
	}
	return n, nil
}

// LoadSummary reads and checks a done job's summary from the results bucket.
func LoadSummary(ctx context.Context, res *Resources, r *Record) (offline.FileSummary, error) {
	var s offline.FileSummary
	if r.State != StateDone || r.Result == nil {
		return s, fmt.Errorf("job %s is %s, not done", r.Job.ID, r.State)
	}
	b, err := getChecked(ctx, res.Results, r.Result.Summary, r.Result.SummaryDigest)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", r.Result.Summary, err)
	}
	return s, nil
}

// LoadFramesCSV reads and checks a done job's per-frame CSV.
func LoadFramesCSV(ctx context.Context, res *Resources, r *Record) ([]byte, error) {
	if r.State != StateDone || r.Result == nil {
		return nil, fmt.Errorf("job %s is %s, not done", r.Job.ID, r.State)
	}
	return getChecked(ctx, res.Results, r.Result.Frames, r.Result.FramesDigest)
}

func getChecked(ctx context.Context, obs jetstream.ObjectStore, name, digest string) ([]byte, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: no object name", ErrDigest)
	}
	obj, err := obs.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", name, ResultsBucket, err)
	}
	defer obj.Close()
	info, err := obj.Info()
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", name, ResultsBucket, err)
	}
	if info.Digest != digest {
		return nil, fmt.Errorf("%w: %s has digest %s, the job record %s (replaced since?)", ErrDigest, name, info.Digest, digest)
	}
	b, err := io.ReadAll(obj) // the object store checks the digest at the end
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", name, ResultsBucket, err)
	}
	return b, nil
}
