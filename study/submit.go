package study

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SubmitOptions configure Submit.
type SubmitOptions struct {
	// Params are the scoring settings of every job.
	Params Params
	// Upload puts each local video into VideosBucket, so that workers need
	// no shared file system.
	Upload bool
	// RetryFailed queues failed jobs of these rows again.
	RetryFailed bool
	// Progress, when set, is told about each row.
	Progress func(row Row, outcome string)
}

// SubmitReport says what Submit did.
type SubmitReport struct {
	New, Existing, Retried, Uploaded int
}

// ErrChangedRow is wrapped when a row's job exists with other content.
var ErrChangedRow = errors.New("row changed since it was submitted")

// Submit puts one job per row of study on the jobs stream. It is
// idempotent: a row whose job already exists (same participant, session and
// condition, and the same source, markers, calibration and settings) makes
// no new job; a row that exists with other content is refused with
// ErrChangedRow (submit it under a new study name) and nothing is changed for
// it. Every row is checked before any job is made.
func Submit(ctx context.Context, res *Resources, study string, rows []Row, o SubmitOptions) (SubmitReport, error) {
	var rep SubmitReport
	if err := ValidateName(study); err != nil {
		return rep, err
	}
	if err := o.Params.Validate(); err != nil {
		return rep, fmt.Errorf("study settings: %w", err)
	}
	jobs := make([]Job, len(rows))
	for i, r := range rows {
		j := Job{Schema: Schema, Study: study, ID: JobID(r.Participant, r.Session, r.Condition), Line: r.Line,
			Participant: r.Participant, Session: r.Session, Condition: r.Condition, Group: r.Group,
			Source: r.Source, Markers: r.Markers, CalibrationMS: msOf(r.Calibration), Params: o.Params}
		if o.Upload {
			if isURL(r.Source) {
				return rep, fmt.Errorf("line %d: --upload needs local files; %s is a URL", r.Line, r.Source)
			}
			d, err := fileDigest(r.Source)
			if err != nil {
				return rep, fmt.Errorf("line %d: %w", r.Line, err)
			}
			j.Object, j.Digest = VideoObject(study, j.ID, r.Source), d
		}
		if err := j.Validate(); err != nil {
			return rep, fmt.Errorf("line %d: %w", r.Line, err)
		}
		jobs[i] = j
	}
	var changed []error
	for i := range jobs {
		j := &jobs[i]
		outcome, err := submitOne(ctx, res, j, o, &rep)
		if errors.Is(err, ErrChangedRow) {
			changed = append(changed, fmt.Errorf("line %d: %w", j.Line, err))
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("line %d (%s): %w", j.Line, j.Source, err)
		}
		if o.Progress != nil {
			o.Progress(rows[i], outcome)
		}
	}
	if len(changed) > 0 {
		return rep, errors.Join(changed...)
	}
	return rep, nil
}

func submitOne(ctx context.Context, res *Resources, j *Job, o SubmitOptions, rep *SubmitReport) (string, error) {
	fp := j.Fingerprint()
	now := time.Now().UTC()
	rec := Record{Schema: Schema, Job: *j, Fingerprint: fp, State: StateQueued, SubmittedAt: now, UpdatedAt: now}
	entry, err := res.Status.Get(ctx, j.Key())
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return "", fmt.Errorf("reading job status: %w", err)
	default:
		old, err := decodeRecord(entry.Value())
		if err != nil {
			return "", err
		}
		if old.Fingerprint != fp {
			return "", fmt.Errorf("%w: participant %s, session %s, condition %s was submitted with another source, markers, calibration or settings; submit the changed manifest under a new --study name",
				ErrChangedRow, j.Participant, j.Session, j.Condition)
		}
		if old.State == StateQueued {
			// Queued but maybe never published (a submit cut short): publish
			// again; the Nats-Msg-Id drops it if it is already there.
			if err := publishJob(ctx, res, j, 0); err != nil {
				return "", err
			}
		}
		if old.State != StateFailed || !o.RetryFailed {
			rep.Existing++
			return "exists (" + old.State + ")", nil
		}
		old.State, old.Error, old.Worker, old.UpdatedAt, old.Result = StateQueued, "", "", now, nil
		b, _ := json.Marshal(old)
		rev, err := res.Status.Update(ctx, j.Key(), b, entry.Revision())
		if err != nil {
			return "", fmt.Errorf("re-queueing failed job: %w", err)
		}
		if err := publishJob(ctx, res, j, rev); err != nil {
			return "", err
		}
		rep.Retried++
		return "queued again", nil
	}
	if o.Upload {
		up, err := uploadVideo(ctx, res.Videos, j)
		if err != nil {
			return "", err
		}
		if up {
			rep.Uploaded++
		}
	}
	b, _ := json.Marshal(rec)
	if _, err := res.Status.Create(ctx, j.Key(), b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			rep.Existing++ // another submit of the same rows won the race
			return "exists", nil
		}
		return "", fmt.Errorf("creating job status: %w", err)
	}
	if err := publishJob(ctx, res, j, 0); err != nil {
		return "", err
	}
	rep.New++
	return "queued", nil
}

// publishJob publishes j with a message ID unique to the job and round (a
// retry of a failed job is a new round).
func publishJob(ctx context.Context, res *Resources, j *Job, round uint64) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(JobsSubject(j.Study))
	msg.Data = b
	msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s/%s/%d", j.Study, j.ID, round))
	if _, err := res.JS.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publishing job: %w", err)
	}
	return nil
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return jetstream.GetObjectDigestValue(h), nil
}

// uploadVideo puts j's video into the object store unless an object with
// the same digest is there; it reports whether it uploaded.
func uploadVideo(ctx context.Context, obs jetstream.ObjectStore, j *Job) (bool, error) {
	if info, err := obs.GetInfo(ctx, j.Object); err == nil && info.Digest == j.Digest {
		return false, nil
	}
	f, err := os.Open(j.Source)
	if err != nil {
		return false, err
	}
	defer f.Close()
	info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: j.Object, Description: "study " + j.Study + " job " + j.ID}, f)
	if err != nil {
		return false, fmt.Errorf("uploading %s: %w", j.Source, err)
	}
	if info.Digest != j.Digest {
		return false, fmt.Errorf("uploading %s: the file changed while it was read (digest %s, then %s)", j.Source, j.Digest, info.Digest)
	}
	return true, nil
}
