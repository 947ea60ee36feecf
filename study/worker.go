package study

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/offline"
	"github.com/affectlab/affect/score"
)

// Worker pulls jobs from the shared consumer and scores them, one at a time.
type Worker struct {
	Res *Resources
	// ID names the worker in job records (default: host name and process ID).
	ID string
	// Scorers is the number of parallel scorers per job (0: one per CPU).
	Scorers int
	// TempDir holds a job's files while it runs (default: os.TempDir()).
	TempDir string
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// ProgressEvery is the interval of progress updates in the job record
	// (default 1s).
	ProgressEvery time.Duration
	// OpTimeout bounds every request to the server (a status read or
	// update, an object's metadata); a video or result transfer gets
	// OpTimeout plus its size at MinTransferRate. A reply lost in a cluster
	// fail-over then ends in an error and a retry instead of a job that
	// hangs while its heartbeat keeps it from other workers. Default
	// DefaultOpTimeout.
	OpTimeout time.Duration

	pool *score.Pool // the loaded networks, kept from job to job
}

// DefaultOpTimeout is the default Worker.OpTimeout.
const DefaultOpTimeout = 30 * time.Second

// MinTransferRate is the slowest transfer of a video or a result file that a
// worker waits for (bytes per second) before it gives the attempt up.
const MinTransferRate = 1 << 20

// transferTries is how often a worker tries a transfer before the job
// attempt fails.
const transferTries = 3

func (w *Worker) opTimeout() time.Duration {
	if w.OpTimeout > 0 {
		return w.OpTimeout
	}
	return DefaultOpTimeout
}

// op is a context for one request to the server.
func (w *Worker) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, w.opTimeout())
}

// transfer is a context for moving size bytes to or from the server.
func (w *Worker) transfer(ctx context.Context, size int64) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, w.opTimeout()+time.Duration(size)*time.Second/MinTransferRate)
}

// retry runs f up to transferTries times while it fails and ctx lives.
func retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	var err error
	for i := range transferTries {
		if err = f(); err == nil || ctx.Err() != nil {
			return err
		}
		if i < transferTries-1 {
			log.Warn(what+" failed; trying again", "err", err, "try", i+1)
			sleep(ctx, time.Duration(i+1)*time.Second)
		}
	}
	return err
}

// WorkerStats count what a worker did.
type WorkerStats struct {
	Done, Failed, Retried, Returned, Skipped int
}

// DefaultWorkerID is the host name and process ID.
func DefaultWorkerID() string {
	h, _ := os.Hostname()
	if h == "" {
		h = "worker"
	}
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

func (w *Worker) log() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

// Run pulls and scores jobs until ctx is cancelled. A job that is running
// when ctx is cancelled is stopped and handed back (nak: another worker gets
// it at once, its record says queued); nothing of it counts as done.
func (w *Worker) Run(ctx context.Context) (WorkerStats, error) {
	var st WorkerStats
	if w.ID == "" {
		w.ID = DefaultWorkerID()
	}
	info, err := w.Res.Consumer.Info(ctx)
	if err != nil {
		return st, fmt.Errorf("study worker: jobs consumer: %w", err)
	}
	ackWait, maxDeliver := info.Config.AckWait, info.Config.MaxDeliver
	if nc := w.Res.JS.Conn(); nc != nil {
		sub, err := nc.QueueSubscribe(MaxDeliveriesAdvisory, "affect_workers", func(m *nats.Msg) { w.onMaxDeliveries(m) })
		if err != nil {
			return st, fmt.Errorf("study worker: subscribing to max-deliveries advisories: %w", err)
		}
		defer sub.Unsubscribe()
	}
	log := w.log().With("worker", w.ID)
	w.pool = score.NewPool()
	defer w.pool.Close()
	log.Info("worker ready", "ack_wait", ackWait, "max_deliver", maxDeliver)
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msg, err := w.Res.Consumer.Next(jetstream.FetchContext(fctx))
		cancel()
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
				log.Warn("fetching a job", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		w.handle(ctx, msg, ackWait, maxDeliver, &st)
	}
	log.Info("worker stopped", "done", st.Done, "failed", st.Failed, "retried", st.Retried, "returned", st.Returned, "skipped", st.Skipped)
	return st, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// handle runs one delivered job to its end: done and acked, handed back,
// retried or failed.
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg, ackWait time.Duration, maxDeliver int, st *WorkerStats) {
	log := w.log().With("worker", w.ID)
	md, err := msg.Metadata()
	if err != nil {
		log.Warn("job without metadata", "err", err)
		msg.Term()
		return
	}
	var j Job
	if err := json.Unmarshal(msg.Data(), &j); err != nil {
		log.Warn("dropping a malformed job", "seq", md.Sequence.Stream, "err", err)
		msg.TermWithReason("malformed job")
		return
	}
	if err := j.Validate(); err != nil {
		log.Warn("dropping an invalid job", "seq", md.Sequence.Stream, "err", err)
		msg.TermWithReason("invalid job")
		return
	}
	log = log.With("study", j.Study, "job", j.ID, "source", j.Source, "attempt", md.NumDelivered)
	kv := w.Res.Status
	gctx, gcancel := w.op(ctx)
	entry, err := kv.Get(gctx, j.Key())
	gcancel()
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			log.Warn("dropping a job without a status record (study deleted?)")
			msg.TermWithReason("no status record")
			return
		}
		log.Warn("reading job status; will retry", "err", err)
		msg.NakWithDelay(time.Second)
		return
	}
	rec, err := decodeRecord(entry.Value())
	if err != nil || rec.Fingerprint != j.Fingerprint() {
		log.Warn("dropping a job whose record does not match it", "err", err)
		msg.TermWithReason("record mismatch")
		return
	}
	if rec.State == StateDone || rec.State == StateFailed {
		// A duplicate delivery of a finished job (e.g. its ack was lost).
		log.Info("job already finished; acknowledging", "state", rec.State)
		actx, acancel := w.op(ctx)
		msg.DoubleAck(actx)
		acancel()
		st.Skipped++
		return
	}
	start := time.Now()
	rec.State, rec.Worker, rec.Attempt, rec.StartedAt, rec.UpdatedAt = StateRunning, w.ID, int(md.NumDelivered), start.UTC(), start.UTC()
	rec.FramesDone, rec.FramesTotal, rec.ETAS = 0, 0, 0
	w.put(ctx, &rec)

	// Heartbeat: tell the server the job is alive at a third of AckWait.
	jobCtx, cancel := context.WithCancel(ctx)
	var hb sync.WaitGroup
	hb.Add(1)
	go func() {
		defer hb.Done()
		t := time.NewTicker(max(ackWait/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-jobCtx.Done():
				return
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					log.Warn("job heartbeat", "err", err)
				}
			}
		}
	}()
	every := w.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	last := start
	progress := func(done, total int64) {
		now := time.Now()
		if now.Sub(last) < every {
			return
		}
		last = now
		rec.FramesDone, rec.FramesTotal, rec.UpdatedAt = done, total, now.UTC()
		if total > 0 && done > 0 {
			rec.ETAS = now.Sub(start).Seconds() / float64(done) * float64(total-done)
		}
		w.put(jobCtx, &rec)
	}
	res, err := w.score(jobCtx, &j, progress, log)
	cancel()
	hb.Wait()

	// Whatever happened, the record and the message are settled with a
	// context that outlives a Ctrl-C (each request in it is bounded too).
	fin, finCancel := context.WithTimeout(context.Background(), 4*w.opTimeout())
	defer finCancel()
	switch {
	case err == nil:
		if w.commit(fin, &j, res, log) {
			actx, acancel := w.op(fin)
			err := msg.DoubleAck(actx)
			acancel()
			if err != nil {
				log.Warn("ack of a finished job failed; it will be delivered again and acknowledged as done", "err", err)
			}
			log.Info("job done", "frames", res.Rows, "elapsed", time.Since(start).Round(time.Millisecond))
			st.Done++
		} else {
			msg.Nak()
		}
	case ctx.Err() != nil:
		rec.State, rec.Error, rec.UpdatedAt = StateQueued, "handed back: worker "+w.ID+" was interrupted", time.Now().UTC()
		w.put(fin, &rec)
		msg.Nak()
		log.Info("job handed back (interrupted)")
		st.Returned++
	case int(md.NumDelivered) >= maxDeliver:
		rec.State, rec.Error, rec.UpdatedAt = StateFailed, err.Error(), time.Now().UTC()
		w.put(fin, &rec)
		msg.TermWithReason("failed")
		log.Error("job failed for good", "err", err, "attempts", md.NumDelivered)
		st.Failed++
	default:
		rec.State, rec.Error, rec.UpdatedAt = StateRetrying, err.Error(), time.Now().UTC()
		w.put(fin, &rec)
		msg.NakWithDelay(2 * time.Second)
		log.Warn("job failed; it will be retried", "err", err, "attempt", md.NumDelivered, "max", maxDeliver)
		st.Retried++
	}
}

// put writes rec unless the record has meanwhile finished (done or failed
// by another delivery of the same job): a compare-and-set on its revision.
func (w *Worker) put(ctx context.Context, rec *Record) {
	b, _ := json.Marshal(rec)
	for range 3 {
		octx, cancel := w.op(ctx)
		entry, err := w.Res.Status.Get(octx, rec.Job.Key())
		if err != nil {
			cancel()
			continue
		}
		if cur, err := decodeRecord(entry.Value()); err == nil && (cur.State == StateDone || cur.State == StateFailed) {
			cancel()
			return
		}
		_, err = w.Res.Status.Update(octx, rec.Job.Key(), b, entry.Revision())
		cancel()
		if err == nil {
			return
		}
	}
	if ctx.Err() == nil {
		w.log().Warn("could not update job status", "job", rec.Job.ID)
	}
}

// commit marks the job done with its result: a compare-and-set on the
// record's revision, so that a finished record is never overwritten. It
// reports whether the job is done (by this worker or an earlier one).
func (w *Worker) commit(ctx context.Context, j *Job, res *Result, log *slog.Logger) bool {
	for range 5 {
		if ctx.Err() != nil {
			return false
		}
		gctx, gcancel := w.op(ctx)
		entry, err := w.Res.Status.Get(gctx, j.Key())
		gcancel()
		if err != nil {
			log.Warn("reading job status before commit", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		rec, err := decodeRecord(entry.Value())
		if err != nil {
			log.Warn("bad job status before commit", "err", err)
			return false
		}
		if rec.State == StateDone {
			return true
		}
		now := time.Now().UTC()
		rec.State, rec.Worker, rec.Result, rec.Error, rec.UpdatedAt, rec.ETAS = StateDone, w.ID, res, "", now, 0
		rec.FramesDone, rec.FramesTotal = int64(res.Rows), int64(res.Rows)
		b, _ := json.Marshal(rec)
		uctx, ucancel := w.op(ctx)
		_, err = w.Res.Status.Update(uctx, j.Key(), b, entry.Revision())
		ucancel()
		if err != nil {
			log.Warn("committing job (will retry)", "err", err)
			continue
		}
		return true
	}
	return false
}

// score runs the job with offline.File into a temporary folder and stores its
// files in the results bucket, the summary last.
func (w *Worker) score(ctx context.Context, j *Job, progress func(done, total int64), log *slog.Logger) (*Result, error) {
	tmp, err := os.MkdirTemp(w.TempDir, "affect-job-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	in := j.Source
	if j.Object != "" {
		in = filepath.Join(tmp, "in", baseOf(j.Source))
		if err := retry(ctx, log, "downloading the video", func() error { return w.download(ctx, j, in) }); err != nil {
			return nil, err
		}
	}
	opts := j.Params.FileOptions(j)
	opts.Workers = w.Scorers
	opts.Progress = progress
	opts.Pool = w.pool
	outDir := filepath.Join(tmp, "out")
	paths, sum, err := offline.File(ctx, in, outDir, opts)
	if err != nil {
		return nil, err
	}
	return w.store(ctx, j, paths, sum, log)
}

// store puts a scored job's files into the results bucket under
// <study>/<id>/, the summary last, and returns what the record names.
func (w *Worker) store(ctx context.Context, j *Job, paths export.Paths, sum offline.FileSummary, log *slog.Logger) (*Result, error) {
	version, err := ModelVersion(sum.Model, sum.Backend)
	if err != nil {
		return nil, err
	}
	prefix := ResultPrefix(j.Study, j.ID)
	res := &Result{Rows: sum.Overall.Frames, Model: sum.Model, ModelVersion: version, Backend: sum.Backend, ElapsedS: sum.ElapsedS}
	put := func(file, name string) (string, error) {
		var digest string
		err := retry(ctx, log, "storing "+name, func() error {
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			tctx, cancel := w.transfer(ctx, fi.Size())
			defer cancel()
			info, err := w.Res.Results.Put(tctx, jetstream.ObjectMeta{Name: prefix + name}, f)
			if err != nil {
				return fmt.Errorf("storing %s: %w", name, err)
			}
			digest = info.Digest
			return nil
		})
		return digest, err
	}
	if res.FramesDigest, err = put(paths.Frames, "frames.csv"); err != nil {
		return nil, err
	}
	res.Frames = prefix + "frames.csv"
	if _, err := os.Stat(paths.Plot); err == nil {
		if _, err = put(paths.Plot, "happiness.png"); err != nil {
			return nil, err
		}
		res.Plot = prefix + "happiness.png"
	}
	if res.SummaryDigest, err = put(paths.Summary, "summary.json"); err != nil {
		return nil, err
	}
	res.Summary = prefix + "summary.json"
	return res, nil
}

// download copies the job's uploaded video to path; the object store checks
// its SHA-256 as it reads, and it must be the digest the job names.
func (w *Worker) download(ctx context.Context, j *Job, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	ictx, icancel := w.op(ctx)
	meta, err := w.Res.Videos.GetInfo(ictx, j.Object)
	icancel()
	if err != nil {
		return fmt.Errorf("looking up uploaded video %s: %w", j.Object, err)
	}
	tctx, cancel := w.transfer(ctx, int64(meta.Size))
	defer cancel()
	obj, err := w.Res.Videos.Get(tctx, j.Object)
	if err != nil {
		return fmt.Errorf("fetching uploaded video %s: %w", j.Object, err)
	}
	defer obj.Close()
	info, err := obj.Info()
	if err != nil {
		return err
	}
	if info.Digest != j.Digest {
		return fmt.Errorf("uploaded video %s has digest %s, the job names %s (uploaded again since?)", j.Object, info.Digest, j.Digest)
	}
	return export.WriteFile(path, func(wr io.Writer) error {
		_, err := io.Copy(wr, obj)
		return err
	})
}

// onMaxDeliveries marks a job failed when the server gave up delivering it
// (its workers died MaxDeliver times without finishing it) and removes it
// from the work queue.
func (w *Worker) onMaxDeliveries(m *nats.Msg) {
	var adv struct {
		Stream     string `json:"stream"`
		Consumer   string `json:"consumer"`
		StreamSeq  uint64 `json:"stream_seq"`
		Deliveries uint64 `json:"deliveries"`
	}
	if err := json.Unmarshal(m.Data, &adv); err != nil || adv.Stream != JobsStream || adv.StreamSeq == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := w.log().With("worker", w.ID, "seq", adv.StreamSeq)
	raw, err := w.Res.Jobs.GetMsg(ctx, adv.StreamSeq)
	if err != nil {
		return // already removed (e.g. by another worker's ack)
	}
	var j Job
	if json.Unmarshal(raw.Data, &j) != nil || j.Validate() != nil {
		w.Res.Jobs.DeleteMsg(ctx, adv.StreamSeq)
		return
	}
	entry, err := w.Res.Status.Get(ctx, j.Key())
	if err == nil {
		if rec, err := decodeRecord(entry.Value()); err == nil && rec.State != StateDone && rec.State != StateFailed {
			rec.State, rec.UpdatedAt = StateFailed, time.Now().UTC()
			msg := fmt.Sprintf("delivered %d times without finishing: its workers stopped (killed, crashed or cut off) while scoring it", adv.Deliveries)
			if rec.Worker != "" {
				msg += "; last worker " + rec.Worker
			}
			if rec.Error != "" {
				msg += "; last error: " + rec.Error
			}
			rec.Error = msg
			b, _ := json.Marshal(rec)
			if _, err := w.Res.Status.Update(ctx, j.Key(), b, entry.Revision()); err != nil {
				log.Warn("marking job failed", "err", err)
			} else {
				log.Error("job failed: maximum deliveries reached", "study", j.Study, "job", j.ID, "deliveries", adv.Deliveries)
			}
		}
	}
	w.Res.Jobs.DeleteMsg(ctx, adv.StreamSeq)
}
