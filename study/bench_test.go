package study

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/offline"
)

// BenchmarkStudy scores the six CREMA-D clips as a study with 1 and 2
// workers on this machine (embedded server, default settings; CPUs split
// evenly between the workers). Reported per op (one whole study): videos
// and frames per hour, and the queue overhead per job: the workers' wall
// time not spent in the scoring loop (model loading, decoding set-up,
// writing files, JetStream: job, status, results, ack), per job.
//
//	go test -run '^$' -bench Study -benchtime 2x ./study/
func BenchmarkStudy(b *testing.B) {
	clips, _ := filepath.Glob(filepath.Join(testenv.Shared(b, "video/crema_d"), "*.mp4"))
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			br := natstest.Start(b, b.TempDir())
			ctx := context.Background()
			res, err := Ensure(ctx, br.JS, Setup{})
			if err != nil {
				b.Fatal(err)
			}
			var videos, frames int
			var wall, scoring time.Duration
			for i := 0; b.Loop(); i++ {
				name := fmt.Sprintf("bench%d", i)
				rows := make([]Row, len(clips))
				for k, c := range clips {
					rows[k] = Row{Line: k + 2, Participant: fmt.Sprintf("P%d", k), Session: "v1", Condition: "c", Source: c}
				}
				start := time.Now()
				if _, err := Submit(ctx, res, name, rows, SubmitOptions{Params: defaultParams()}); err != nil {
					b.Fatal(err)
				}
				wctx, cancel := context.WithCancel(ctx)
				var wg sync.WaitGroup
				for k := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						(&Worker{Res: res, ID: fmt.Sprint(k), Scorers: max(1, runtime.NumCPU()/workers), Logger: natstest.Quiet}).Run(wctx)
					}()
				}
				var st *Status
				for {
					st, err = ReadStatus(ctx, res, name)
					if err != nil {
						b.Fatal(err)
					}
					if st.Finished() {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				wall += time.Since(start)
				cancel()
				wg.Wait()
				if st.Done != len(clips) {
					b.Fatalf("%d of %d done", st.Done, len(clips))
				}
				for _, r := range st.Records {
					videos++
					frames += r.Result.Rows
					scoring += time.Duration(r.Result.ElapsedS * float64(time.Second))
				}
			}
			h := wall.Hours()
			b.ReportMetric(float64(videos)/h, "videos/h")
			b.ReportMetric(float64(frames)/h, "frames/h")
			b.ReportMetric(float64(frames)/wall.Seconds(), "frames/s")
			// Worker time not in the scoring loop, per job.
			over := (time.Duration(workers)*wall - scoring) / time.Duration(videos)
			b.ReportMetric(float64(over.Milliseconds()), "ms-overhead/job")
		})
	}
}

// BenchmarkQueueOverhead is one job through JetStream without the scoring:
// submit (status record and job message), pull, running status, the three
// result objects of a real scored clip into the object store, the done
// commit and the ack. It bounds how many jobs a server handles per second.
func BenchmarkQueueOverhead(b *testing.B) {
	clip := testenv.Shared(b, "video/crema_d/1001_DFA_HAP_XX.mp4")
	br := natstest.Start(b, b.TempDir())
	ctx := context.Background()
	res, err := Ensure(ctx, br.JS, Setup{})
	if err != nil {
		b.Fatal(err)
	}
	params := defaultParams()
	dir := b.TempDir()
	j0 := Job{Source: clip, Params: params}
	paths, sum, err := offline.File(ctx, clip, dir, params.FileOptions(&j0))
	if err != nil {
		b.Fatal(err)
	}
	w := &Worker{Res: res, ID: "bench", Logger: natstest.Quiet}
	for i := 0; b.Loop(); i++ {
		row := Row{Line: 2, Participant: fmt.Sprintf("P%d", i), Session: "v1", Condition: "c", Source: clip}
		if _, err := Submit(ctx, res, "queue", []Row{row}, SubmitOptions{Params: params}); err != nil {
			b.Fatal(err)
		}
		msg, err := res.Consumer.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			b.Fatal(err)
		}
		j := Job{Schema: Schema, Study: "queue", ID: JobID(row.Participant, row.Session, row.Condition), Participant: row.Participant,
			Session: row.Session, Condition: row.Condition, Source: clip, Params: params}
		entry, err := res.Status.Get(ctx, j.Key())
		if err != nil {
			b.Fatal(err)
		}
		rec, _ := decodeRecord(entry.Value())
		rec.State, rec.Worker = StateRunning, w.ID
		w.put(ctx, &rec)
		r, err := w.store(ctx, &j, paths, sum, natstest.Quiet)
		if err != nil {
			b.Fatal(err)
		}
		if !w.commit(ctx, &j, r, natstest.Quiet) {
			b.Fatal("commit failed")
		}
		if err := msg.DoubleAck(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/job")
}
