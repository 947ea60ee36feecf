package dashboard_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/internal/promtest"
	"github.com/affectlab/affect/record"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/affectlab/affect/dashboard"
	"github.com/affectlab/affect/metrics"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startBroker starts a real embedded NATS server with JetStream on disk and
// connects to it; the streams exist.
func startBroker(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	nb := natstest.Start(t, t.TempDir())
	return nb.NC, nb.JS
}

// startDashboard starts a dashboard on a free loopback port with its own metrics.
func startDashboard(t testing.TB, nc *nats.Conn, opts ...dashboard.Option) (*dashboard.Server, string, *metrics.Metrics) {
	t.Helper()
	m := metrics.New()
	opts = append([]dashboard.Option{dashboard.WithAddr("127.0.0.1:0"), dashboard.WithMetrics(m), dashboard.WithLogger(quiet)}, opts...)
	srv, err := dashboard.New(nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	url, err := srv.Start(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); srv.Close() })
	return srv, url, m
}

// runAggregator runs what `affect aggregate` runs: the pipeline's durable
// consumer feeding an aggregate.Aggregator, and the summary published on
// affect.<session>.summary every interval. It stops when the test ends.
func runAggregator(t testing.TB, js jetstream.JetStream, session string, interval time.Duration) (stop func()) {
	t.Helper()
	agg, err := aggregate.New(aggregate.DefaultConfig(), aggregate.WithSession(session, ""))
	if err != nil {
		t.Fatal(err)
	}
	cons, err := pipeline.NewConsumer(js, session, agg, pipeline.WithWaitForSession(true), pipeline.WithStopAtEnd(false), pipeline.WithConsumerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		if err := cons.Run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("aggregator consumer: %v", err)
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if agg.Len() == 0 {
				continue
			}
			pctx, c := context.WithTimeout(ctx, 5*time.Second)
			sum := agg.Summary()
			if err := pipeline.PublishSummary(pctx, js, session, &sum); err != nil && ctx.Err() == nil {
				t.Errorf("publish summary: %v", err)
			}
			c()
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done; <-done }) }
	t.Cleanup(stop)
	return stop
}

// synthFrames returns n frames at 30 frames/s: happiness follows a slow
// sine; every 7th frame has no face.
func synthFrames(session string, from, n int) []record.FrameScore {
	out := make([]record.FrameScore, n)
	for j := range out {
		i := from + j
		f := record.FrameScore{
			Schema: record.SchemaVersion, Session: session, Participant: "P01", Source: "synthetic",
			Frame: int64(i), MediaMS: float64(i) * 1000 / 30, CaptureUnixNano: time.Now().UnixNano(),
		}
		if i%7 != 3 {
			h := 0.5 + 0.45*math.Sin(float64(i)/200)
			f.FaceFound, f.NFaces = true, 1
			f.Primary = &record.Face{Box: record.Box{X: 10, Y: 20, W: 100, H: 100}, Happiness: h}
			f.Primary.Probs[record.HappyIndex] = h
			f.Primary.Probs[6] = 1 - h
		}
		out[j] = f
	}
	return out
}

// publish publishes frames with the pipeline's publisher and waits for every acknowledgment.
func publish(t testing.TB, nc *nats.Conn, frames []record.FrameScore) {
	t.Helper()
	pub, err := pipeline.NewPublisher(nc, pipeline.WithPublisherLogger(quiet), pipeline.WithBuffer(len(frames)+1))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, f := range frames {
		if err := pub.Process(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := pub.Close(ctx); err != nil {
		t.Fatalf("publish: %v (%+v)", err, r)
	}
}

func publishEvent(t testing.TB, js jetstream.JetStream, ev pipeline.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pipeline.PublishEvent(ctx, js, ev); err != nil {
		t.Fatal(err)
	}
}

// snapshot is the decoded /api/sessions/NAME answer.
type snapshot struct {
	Full bool   `json:"full"`
	V    uint64 `json:"v"`
	Info struct {
		Session    string `json:"session"`
		Status     string `json:"status"`
		Frames     int64  `json:"frames"`
		FaceFrames int64  `json:"face_frames"`
		Pending    uint64 `json:"pending"`
		Markers    int    `json:"markers"`
		Skipped    struct {
			Malformed     int `json:"malformed"`
			UnknownSchema int `json:"unknown_schema"`
			Duplicate     int `json:"duplicate"`
			OutOfRange    int `json:"out_of_range"`
		} `json:"skipped"`
		Last *struct {
			Frame int64 `json:"frame"`
			Face  bool  `json:"face"`
		} `json:"last"`
	} `json:"info"`
	Ov struct {
		W float64     `json:"w"`
		N int         `json:"n"`
		B [][]float64 `json:"b"`
	} `json:"ov"`
	Rc struct {
		W     float64     `json:"w"`
		First int64       `json:"first"`
		B     [][]float64 `json:"b"`
	} `json:"rc"`
	Markers []record.Marker    `json:"markers"`
	Summary *aggregate.Summary `json:"summary"`
}

func getSnapshot(t testing.TB, base, session string) (snapshot, int) {
	t.Helper()
	s, n, found := fetchSnapshot(t, base, session)
	if !found {
		t.Fatalf("GET snapshot of %s: 404: the dashboard does not know the session", session)
	}
	return s, n
}

// pollSnapshot is getSnapshot for waitFor: a session the dashboard has not
// seen yet (404: its first message may still be on its way) gives the zero
// snapshot, "not yet", instead of failing the test.
func pollSnapshot(t testing.TB, base, session string) snapshot {
	t.Helper()
	s, _, _ := fetchSnapshot(t, base, session)
	return s
}

// fetchSnapshot GETs a session's snapshot; found is false on 404, any other
// status but 200 fails the test.
func fetchSnapshot(t testing.TB, base, session string) (s snapshot, size int, found bool) {
	t.Helper()
	resp, err := http.Get(base + "api/sessions/" + session)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return s, len(b), false
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET snapshot of %s: %s: %s", session, resp.Status, b)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("snapshot JSON: %v", err)
	}
	return s, len(b), true
}

// waitFor polls cond every 20 ms until it is true or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scrape fetches base's /metrics and parses it.
func scrape(t testing.TB, base string) map[string]*dto.MetricFamily {
	return promtest.Scrape(t, base+"metrics")
}

var metricValue = promtest.Value
