package study

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/offline"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/pipeline/broker"
	"github.com/affectlab/affect/record"
)

func clusterConn(t *testing.T, urls, name string) jetstream.JetStream {
	t.Helper()
	_, js := natstest.Dial(t, urls, broker.WithName(name))
	return js
}

// Issue 12, point 2: a 3-node cluster on loopback with every stream and
// bucket replicated 3 times; one node is stopped during a study and during
// a live session and later restarted. Nothing is lost or duplicated, and
// the results equal an undisturbed run (local scoring of each video; the
// live session's summary computed from the frames sent).
func TestClusterNodeLoss(t *testing.T) {
	clipsDir := testenv.Shared(t, "video/crema_d")
	clips, _ := filepath.Glob(filepath.Join(clipsDir, "*.mp4"))
	if len(clips) != 6 {
		t.Fatalf("want the 6 CREMA-D clips, found %d", len(clips))
	}
	c := natstest.StartCluster(t, t.TempDir(), 3)
	urls := c.URLs()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := clusterConn(t, urls, "admin")
	res, err := Ensure(ctx, admin, Setup{Replicas: 3, AckWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []jetstream.StreamConfig{pipeline.StreamConfig(), pipeline.SummaryStreamConfig()} {
		cfg.Replicas = 3
		if _, err := admin.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	// `affect session`, `mark` and `aggregate` ensure the streams on start:
	// that must keep the cluster's replicas.
	if _, err := pipeline.EnsureStreams(ctx, admin); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{pipeline.SummaryStreamName, JobsStream, "KV_" + StatusBucket, "OBJ_" + ResultsBucket, "OBJ_" + VideosBucket, pipeline.StreamName} {
		st, err := admin.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := st.CachedInfo().Config.Replicas; r != 3 {
			t.Fatalf("%s has %d replicas", name, r)
		}
	}

	t.Run("study", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		// The workers' log is shown when the test fails.
		var logs testenv.SyncBuffer
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("workers' log:\n%s", logs.String())
			}
		})
		params := defaultParams()
		params.Model = "human" // the fast model: the cluster, not scoring, is under test
		rows := make([]Row, len(clips))
		for i, clip := range clips {
			rows[i] = Row{Line: i + 2, Participant: fmt.Sprintf("P%d", i%3+1), Session: fmt.Sprintf("v%d", i/3+1), Condition: fmt.Sprintf("c%d", i), Source: clip}
		}
		if _, err := Submit(ctx, res, "cl", rows, SubmitOptions{Params: params, Upload: true}); err != nil {
			t.Fatal(err)
		}
		// Two workers, each with its own connection to the cluster.
		wctx, wcancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for i := range 2 {
			wres, err := Ensure(ctx, clusterConn(t, urls, fmt.Sprintf("worker%d", i)), Setup{})
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A short OpTimeout: a request whose reply is lost in the
				// fail-over is given up and retried within seconds.
				(&Worker{Res: wres, ID: fmt.Sprintf("w%d", i), Scorers: 1, OpTimeout: 5 * time.Second,
					Logger: slog.New(slog.NewTextHandler(&logs, nil))}).Run(wctx)
			}()
		}
		waitFor(t, ctx, res, "cl", func(s *Status) bool { return s.Running > 0 })
		down := leader(t, ctx, admin, JobsStream)
		c.Stop(down)
		t.Logf("node %d (leader of %s) stopped during the study", down+1, JobsStream)
		time.Sleep(3 * time.Second)
		st := waitFor(t, ctx, res, "cl", func(s *Status) bool { return true })
		t.Logf("restarting node %d at %s", down+1, st.Bar(10))
		c.Restart(down)
		st = waitFor(t, ctx, res, "cl", func(s *Status) bool { return s.Finished() })
		wcancel()
		wg.Wait()
		t.Logf("requests the workers gave up and tried again: %d", strings.Count(logs.String(), "trying again"))
		if st.Done != len(clips) {
			t.Fatalf("%d of %d done", st.Done, len(clips))
		}
		for i, r := range st.Records {
			dones, err := TimesDone(ctx, res, &r.Job)
			if err != nil {
				t.Fatal(err)
			}
			if dones != 1 {
				t.Errorf("job %s done %d times", r.Job.ID, dones)
			}
			// The undisturbed run: the same video scored locally.
			dir := t.TempDir()
			opts := params.FileOptions(&r.Job)
			p, _, err := offline.File(ctx, r.Job.Source, dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			lf, _ := os.ReadFile(p.Frames)
			ls, _ := os.ReadFile(p.Summary)
			wf, err := LoadFramesCSV(ctx, res, &st.Records[i])
			if err != nil {
				t.Fatal(err)
			}
			ws, err := res.Results.GetBytes(ctx, r.Result.Summary)
			if err != nil {
				t.Fatal(err)
			}
			if err := SameResult(lf, wf, ls, ws); err != nil {
				t.Errorf("%s: %v", filepath.Base(r.Job.Source), err)
			}
		}
		objs, _ := res.Results.List(ctx)
		if len(objs) != 3*len(clips) {
			t.Errorf("%d result objects, want %d", len(objs), 3*len(clips))
		}
		if info, _ := res.Jobs.Info(ctx); info.State.Msgs != 0 {
			t.Errorf("%d jobs left on the queue", info.State.Msgs)
		}
	})

	t.Run("live session", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		const session, n = "live1", 900
		frames := make([]record.FrameScore, n)
		for i := range frames {
			f := record.FrameScore{Session: session, Participant: "P1", Source: "camera 0", Frame: int64(i), MediaMS: float64(i) * 1000 / 30}
			if i%17 != 0 {
				h := 0.1 + 0.8*float64((i/45)%2) + 0.001*float64(i%7)
				f.FaceFound, f.NFaces, f.Primary = true, 1, &record.Face{Happiness: h}
			}
			frames[i] = f
		}
		marker := record.Marker{OnsetMS: 12000, Label: "baby", Condition: "crying"}
		want, err := aggregate.Compute(aggregate.DefaultConfig(), frames, []record.Marker{marker})
		if err != nil {
			t.Fatal(err)
		}

		capJS := clusterConn(t, urls, "capture")
		if err := pipeline.StartSession(ctx, capJS, session, pipeline.SessionStart{Participant: "P1", Source: "camera 0", FPS: 30}); err != nil {
			t.Fatal(err)
		}
		agg, _ := aggregate.New(aggregate.DefaultConfig())
		cons, err := pipeline.NewConsumer(clusterConn(t, urls, "aggregator"), session, agg, pipeline.WithStopAtEnd(true), pipeline.WithConsumerLogger(natstest.Quiet))
		if err != nil {
			t.Fatal(err)
		}
		consDone := make(chan error, 1)
		go func() { consDone <- cons.Run(ctx) }()
		pub, err := pipeline.NewPublisher(capJS.Conn(), pipeline.WithPublisherLogger(natstest.Quiet), pipeline.WithBlockWhenFull())
		if err != nil {
			t.Fatal(err)
		}
		down := 0
		for i, f := range frames {
			switch i {
			case 300:
				down = leader(t, ctx, admin, pipeline.StreamName)
				c.Stop(down)
				t.Logf("node %d (leader of %s) stopped during the session", down+1, pipeline.StreamName)
			case 360:
				if err := pipeline.PublishEvent(ctx, capJS, pipeline.NewMarkerEvent(session, marker)); err != nil {
					t.Fatal(err)
				}
			case 600:
				c.Restart(down)
				t.Logf("node %d restarted", down+1)
			}
			if err := pub.Process(ctx, f); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * time.Millisecond)
		}
		rep, err := pub.Close(ctx)
		if err != nil || rep.Undelivered != 0 || rep.Published != n {
			t.Fatalf("publisher: %+v %v", rep, err)
		}
		if err := pipeline.PublishEvent(ctx, capJS, pipeline.NewEndEvent(session, pipeline.SessionEnd{Frames: n, Published: rep.Published})); err != nil {
			t.Fatal(err)
		}
		if err := <-consDone; err != nil {
			t.Fatal(err)
		}
		got := agg.Summary()
		if got.Overall.Frames != n || got.DuplicateFrames != 0 || got.DuplicateMarkers != 0 {
			t.Errorf("aggregated %d frames, %d duplicates", got.Overall.Frames, got.DuplicateFrames)
		}
		st, _ := admin.Stream(ctx, pipeline.StreamName)
		info, _ := st.Info(ctx, jetstream.WithSubjectFilter(pipeline.FramesSubject(session)))
		if m := info.State.Subjects[pipeline.FramesSubject(session)]; m != n {
			t.Errorf("stream holds %d frames of the session, want %d", m, n)
		}
		if !reflect.DeepEqual(got.Overall, want.Overall) || !reflect.DeepEqual(got.Epochs, want.Epochs) || !reflect.DeepEqual(got.Conditions, want.Conditions) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Errorf("summary differs from the undisturbed one:\n got %s\nwant %s", g, w)
		}
	})
}

// leader returns the index of the node that leads stream name (nodes are
// named n1, n2, ...).
func leader(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) int {
	t.Helper()
	st, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream %s cluster info: %v", name, err)
	}
	var i int
	if _, err := fmt.Sscanf(info.Cluster.Leader, "n%d", &i); err != nil {
		t.Fatalf("leader %q", info.Cluster.Leader)
	}
	return i - 1
}
