package study

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/affectlab/affect/offline"
)

// TableHeader are the columns of the tidy study table: one row per job and
// measure. scope is overall, calibration, condition (a marker condition,
// named in scope_label) or epoch (a marker, scope_label its label,
// marker_condition and onset_ms its condition and onset). value is empty
// when the measure has no data (R: NA; pandas: NaN), never 0.
var TableHeader = []string{
	"study", "participant", "session", "condition", "group", "job",
	"scope", "scope_label", "marker_condition", "onset_ms", "measure", "value",
	"model", "model_version", "backend", "threshold", "exclude_low",
}

// Job is one done job with its summary, for tables and reports.
type DoneJob struct {
	Record  Record
	Summary offline.FileSummary
}

// LoadDone reads the summaries of the study's done jobs (checked against
// their digests). Jobs that are not done are in the returned status.
func LoadDone(ctx context.Context, res *Resources, study string) (*Status, []DoneJob, error) {
	st, err := ReadStatus(ctx, res, study)
	if err != nil {
		return nil, nil, err
	}
	var done []DoneJob
	for i := range st.Records {
		r := &st.Records[i]
		if r.State != StateDone {
			continue
		}
		s, err := LoadSummary(ctx, res, r)
		if err != nil {
			return st, nil, fmt.Errorf("job %s (line %d): %w", r.Job.ID, r.Job.Line, err)
		}
		done = append(done, DoneJob{Record: *r, Summary: s})
	}
	return st, done, nil
}

// WriteTable writes the tidy long table of the done jobs to w and returns
// the number of rows (without the header).
func WriteTable(w io.Writer, done []DoneJob) (int, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(TableHeader); err != nil {
		return 0, err
	}
	n := 0
	for _, d := range done {
		j, res, s := d.Record.Job, d.Record.Result, d.Summary
		base := []string{j.Study, j.Participant, j.Session, j.Condition, j.Group, j.ID}
		tail := []string{res.Model, res.ModelVersion, res.Backend, num(s.Threshold), strconv.FormatBool(s.ExcludeLowQuality)}
		row := func(scope, label, mcond, onset, measure, value string) error {
			rec := append(append(append([]string{}, base...), scope, label, mcond, onset, measure, value), tail...)
			n++
			return cw.Write(rec)
		}
		for _, m := range overallMeasures(&s) {
			if err := row("overall", "", "", "", m.name, m.value); err != nil {
				return n, err
			}
		}
		if c := s.Calibration; c != nil {
			for _, m := range []measure{{"until_ms", num(c.UntilMS)}, {"neutral_frames", strconv.Itoa(c.NeutralFrames)},
				{"neutral", ptrNum(c.Neutral)}, {"face_frames", strconv.Itoa(c.FaceFrames)}, {"raw_mean", ptrNum(c.RawMean)},
				{"raw_median", ptrNum(c.RawMedian)}, {"raw_peak", ptrNum(c.RawPeak)}, {"corrected_mean", ptrNum(c.CorrectedMean)},
				{"corrected_median", ptrNum(c.CorrectedMedian)}, {"corrected_peak", ptrNum(c.CorrectedPeak)}} {
				if err := row("calibration", "", "", "", m.name, m.value); err != nil {
					return n, err
				}
			}
		}
		for _, c := range s.Conditions {
			for _, m := range []measure{{"epochs", strconv.Itoa(c.Epochs)}, {"baseline_mean", ptrNum(c.BaselineMean)},
				{"response_mean", ptrNum(c.ResponseMean)}, {"corrected", ptrNum(c.Corrected)}, {"peak", ptrNum(c.Peak)},
				{"latency_ms", ptrNum(c.LatencyMS)}, {"epochs_with_latency", strconv.Itoa(c.EpochsWithLatency)}, {"calibrated", ptrNum(c.Calibrated)}} {
				if err := row("condition", c.Condition, c.Condition, "", m.name, m.value); err != nil {
					return n, err
				}
			}
		}
		for _, e := range s.Epochs {
			for _, m := range []measure{{"baseline_frames", strconv.Itoa(e.BaselineFrames)}, {"response_frames", strconv.Itoa(e.ResponseFrames)},
				{"response_no_face", strconv.Itoa(e.ResponseNoFace)}, {"baseline_mean", ptrNum(e.BaselineMean)},
				{"response_mean", ptrNum(e.ResponseMean)}, {"corrected", ptrNum(e.Corrected)}, {"peak", ptrNum(e.Peak)},
				{"latency_ms", ptrNum(e.LatencyMS)}, {"calibrated", ptrNum(e.Calibrated)}} {
				if err := row("epoch", e.Label, e.Condition, num(e.OnsetMS), m.name, m.value); err != nil {
					return n, err
				}
			}
		}
	}
	cw.Flush()
	return n, cw.Error()
}

type measure struct{ name, value string }

// overallMeasures are the whole-video measures of a summary.
func overallMeasures(s *offline.FileSummary) []measure {
	o := s.Overall
	lowShare := ""
	if faces := o.FaceFrames; faces > 0 || s.LowQualityFrames > 0 {
		// Share of face frames of low quality (whether or not excluded).
		all := faces
		if s.ExcludeLowQuality {
			all += s.LowQualityFrames
		}
		if all > 0 {
			lowShare = num(float64(s.LowQualityFrames) / float64(all))
		}
	}
	return []measure{
		{"frames", strconv.Itoa(o.Frames)}, {"face_frames", strconv.Itoa(o.FaceFrames)}, {"face_share", ptrNum(o.FaceShare)},
		{"mean", ptrNum(o.Mean)}, {"median", ptrNum(o.Median)}, {"peak", ptrNum(o.Peak)},
		{"above_share", ptrNum(o.AboveShare)}, {"longest_run_ms", num(o.LongestRunMS)},
		{"low_quality_frames", strconv.Itoa(s.LowQualityFrames)}, {"low_quality_share", lowShare},
		{"error_frames", strconv.Itoa(s.ErrorFrames)},
	}
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

func ptrNum(p *float64) string {
	if p == nil {
		return ""
	}
	return num(*p)
}
