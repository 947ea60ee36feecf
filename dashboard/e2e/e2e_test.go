// Package e2e_test runs the dashboard end to end: the bundled sample video
// is scored by the real capture → detect → classify loop (score.Run),
// published through a real embedded NATS server, aggregated by the real
// consumer, and shown by the dashboard in headless Chromium.
package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/internal/promtest"
	"github.com/affectlab/affect/record"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/dashboard"
	"github.com/affectlab/affect/dashboard/browsertest"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/metrics"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/score"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	srv  *dashboard.Server
	base string
	m    *metrics.Metrics
}

func setup(t *testing.T) *env {
	t.Helper()
	nb := natstest.Start(t, t.TempDir())
	nc, js := nb.NC, nb.JS
	m := metrics.New()
	srv, err := dashboard.New(nc, dashboard.WithAddr("127.0.0.1:0"), dashboard.WithMetrics(m), dashboard.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	base, err := srv.Start(sctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); srv.Close() })
	return &env{nc: nc, js: js, srv: srv, base: base, m: m}
}

// aggregate runs what `affect aggregate` runs (the pipeline's durable
// consumer into an aggregate.Aggregator, the summary published every interval).
func (e *env) aggregate(t *testing.T, session string, interval time.Duration) {
	agg, _ := aggregate.New(aggregate.DefaultConfig(), aggregate.WithSession(session, ""))
	cons, err := pipeline.NewConsumer(e.js, session, agg, pipeline.WithWaitForSession(true), pipeline.WithStopAtEnd(false), pipeline.WithConsumerLogger(quiet),
		pipeline.WithOnFrame(func(f record.FrameScore) { e.m.FrameAggregated(session, f.CaptureUnixNano) }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); cons.Run(ctx) }()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if agg.Len() > 0 {
				pipeline.PublishSummary(ctx, e.js, session, agg.Summary())
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// countingSource counts every frame read from the source as captured.
type countingSource struct {
	capture.Source
	m       *metrics.Metrics
	session string
}

func (c countingSource) Next(ctx context.Context) (capture.Frame, error) {
	f, err := c.Source.Next(ctx)
	if err == nil {
		c.m.FrameCaptured(c.session)
	}
	return f, err
}

// runSession scores the bundled sample video (at its own frame rate when
// realtime) and publishes every frame, as `affect session` does; it returns
// when the video ends.
func (e *env) runSession(t *testing.T, session string, realtime bool) score.Stats {
	src, err := capture.Open(testenv.Sample(t), capture.Realtime(realtime))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	info := src.Info()
	if err := pipeline.PublishEvent(ctx, e.js, pipeline.NewStartEvent(session, pipeline.SessionStart{Participant: "P01", Source: "sample.mp4", FPS: info.FPS, StartedUnixNano: time.Now().UnixNano()})); err != nil {
		t.Fatal(err)
	}
	pub, err := pipeline.NewPublisher(e.nc, pipeline.WithPublisherLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	stats, err := score.Run(ctx, countingSource{src, e.m, session}, score.Config{Session: session, Participant: "P01", Source: "sample.mp4"},
		func(f record.FrameScore) error {
			e.m.FrameScored(session, f.FaceFound)
			return pub.Process(ctx, f)
		})
	if err != nil {
		t.Fatalf("scoring the sample: %v", err)
	}
	rep, err := pub.Close(ctx)
	if err != nil {
		t.Fatalf("publishing: %v", err)
	}
	if err := pipeline.PublishEvent(ctx, e.js, pipeline.NewEndEvent(session, pipeline.SessionEnd{Frames: int(stats.Frames), Published: rep.Published, EndedUnixNano: time.Now().UnixNano(), Reason: "completed"})); err != nil {
		t.Fatal(err)
	}
	return stats
}

func (e *env) scrape(t *testing.T) map[string]*dto.MetricFamily {
	return promtest.Scrape(t, e.base+"metrics")
}

var value = promtest.Value

// checkCounters checks that the Prometheus counters match the frames scored.
func (e *env) checkCounters(t *testing.T, session string, st score.Stats, live bool) {
	t.Helper()
	fams := e.scrape(t)
	s := map[string]string{"session": session}
	noFace := float64(st.Frames - st.FaceFrames)
	want := map[string]float64{
		"affect_frames_captured_total":          float64(st.Frames),
		"affect_frames_scored_total":            float64(st.Frames),
		"affect_frames_no_face_total":           noFace,
		"affect_frames_aggregated_total":        float64(st.Frames),
		"affect_capture_to_aggregate_seconds":   float64(st.Frames), // samples
		"affect_dashboard_frames_total":         float64(st.Frames),
		"affect_dashboard_no_face_frames_total": noFace,
	}
	if live {
		want["affect_capture_to_dashboard_seconds"] = float64(st.Frames)
	}
	for name, w := range want {
		if got, err := value(fams, name, s); err != nil || got != w {
			t.Errorf("%s{session=%q} = %v (%v), want %v", name, session, got, err, w)
		}
	}
	if lag, err := value(fams, "affect_consumer_lag_messages", map[string]string{"session": session, "consumer": "dashboard"}); err != nil || lag != 0 {
		t.Errorf("dashboard consumer lag %v (%v), want 0 once caught up", lag, err)
	}
	t.Logf("/metrics parsed: %d families; %d frames captured and scored, %d without a face, all %d on the dashboard", len(fams), st.Frames, int64(noFace), st.Frames)
}

// TestMetricsMatchScoredFrames scores the sample as fast as it can, publishes
// it, and checks /metrics (parsed with the Prometheus text parser) against
// the scorer's own counts. It needs no browser.
func TestMetricsMatchScoredFrames(t *testing.T) {
	e := setup(t)
	const session = "sample-fast"
	e.aggregate(t, session, 200*time.Millisecond)
	st := e.runSession(t, session, false)
	if st.Frames != 180 || st.FaceFrames == 0 || st.FaceFrames == st.Frames {
		t.Fatalf("sample scored to %d frames, %d with a face: want 180 with some frames without a face", st.Frames, st.FaceFrames)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := value(e.scrape(t), "affect_frames_aggregated_total", map[string]string{"session": session})
		d, _ := value(e.scrape(t), "affect_dashboard_frames_total", map[string]string{"session": session})
		if v == float64(st.Frames) && d == float64(st.Frames) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.checkCounters(t, session, st, false)
}

type page struct {
	Frames   int64  `json:"frames"`
	Points   int    `json:"points"`
	Status   string `json:"status"`
	Face     string `json:"face"`
	Current  string `json:"current"`
	Rows     int    `json:"rows"`
	Pending  int    `json:"pending"`
	RowText  string `json:"rowText"`
	CondRows int    `json:"condRows"`
	Summary  int64  `json:"summaryFrames"`
}

const pageJS = `(() => {
  const a = window.affect || {};
  const rows = document.querySelectorAll('#epochs tbody tr');
  return {
    frames: (a.info && a.info.frames) || 0,
    points: +(document.getElementById('timeline').dataset.points || 0),
    status: (a.info && a.info.status) || '',
    face: document.getElementById('face').textContent,
    current: document.getElementById('current').textContent,
    rows: rows.length,
    pending: document.querySelectorAll('#epochs tbody tr.pending').length,
    rowText: rows.length ? rows[0].textContent : '',
    condRows: document.querySelectorAll('#conditions tbody tr').length,
    summaryFrames: a.summary ? a.summary.overall.frames : 0,
  };
})()`

func readPage(t *testing.T, ctx context.Context) page {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := chromedp.Run(c, chromedp.Evaluate[page](pageJS))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return p
}

// TestLiveSessionInChromium plays the sample video at its own frame rate
// (12 s) through the whole live path with the session page open in headless
// Chromium: the timeline gains points while frames arrive, the current value
// shows both a face and no face, the epoch table fills after a marker is
// published, and the Prometheus counters match the frames. A screenshot is
// kept as a test artifact.
func TestLiveSessionInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("plays the 12 s sample at real time: skipped with -short")
	}
	e := setup(t)
	const session = "sample-live"
	e.aggregate(t, session, 250*time.Millisecond)
	bctx := browsertest.Start(t, browsertest.Options{})
	// The page is open before the session starts; it waits for it.
	if err := chromedp.Do(bctx, chromedp.Navigate(e.base+"session/"+session)); err != nil {
		t.Fatal(err)
	}

	var st score.Stats
	done := make(chan struct{})
	go func() { defer close(done); st = e.runSession(t, session, true) }()

	var samples []page
	faces := map[string]bool{}
	markerSent := false
	var beforeMarker page
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(200 * time.Millisecond):
		}
		p := readPage(t, bctx)
		samples = append(samples, p)
		if p.Face != "" && p.Frames > 0 {
			faces[strings.Fields(p.Face)[0]] = true // "face" or "no"
		}
		if !markerSent && p.Frames >= 60 { // 4 s into the video
			beforeMarker = p
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := pipeline.PublishEvent(ctx, e.js, pipeline.NewMarkerEvent(session, record.Marker{OnsetMS: 4000, Label: "joke", Condition: "funny"}))
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			markerSent = true
		}
	}
	if t.Failed() {
		return
	}
	// The timeline grew while frames arrived: many samples, each with more points.
	grew, first, last := 0, -1, 0
	for i := 1; i < len(samples); i++ {
		if samples[i].Points > samples[i-1].Points {
			grew++
		}
		if first < 0 && samples[i].Points > 0 {
			first = i
		}
		last = samples[i].Points
	}
	t.Logf("page sampled %d times while the video played: the timeline grew %d times, to %d points", len(samples), grew, last)
	if grew < 10 {
		t.Errorf("the timeline grew only %d times while frames arrived, want >= 10: %+v", grew, samples)
	}
	if !faces["face"] || !faces["no"] {
		t.Errorf("the current value showed %v, want both 'face seen' and 'no face' (the video cuts to a wall)", faces)
	}
	if !markerSent || beforeMarker.Rows != 0 {
		t.Errorf("epoch table before the marker: %d rows, want 0 (marker sent: %v)", beforeMarker.Rows, markerSent)
	}
	// After the video: every frame, the end, and the epoch computed by the aggregator.
	var p page
	deadline := time.Now().Add(15 * time.Second)
	for {
		p = readPage(t, bctx)
		if p.Frames == st.Frames && p.Status == dashboard.StatusEnded && p.Summary == st.Frames && p.Rows == 1 && p.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("page after the session: %+v, want %d frames, ended, one computed epoch", p, st.Frames)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(p.RowText, "joke") || !strings.Contains(p.RowText, "funny") || p.CondRows != 1 {
		t.Errorf("epoch row %q, %d condition rows; want the joke/funny epoch and one condition", p.RowText, p.CondRows)
	}
	// The epoch's numbers on the page are the aggregator's.
	resp, err := http.Get(e.base + "api/sessions/" + session)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sum := extractEpoch(t, b)
	if !strings.Contains(p.RowText, sum) {
		t.Errorf("epoch row %q does not show the aggregator's response mean %s", p.RowText, sum)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	browsertest.SaveArtifact(t, "dashboard-live-sample.png", png)
	t.Logf("sample: %d frames, %d with a face; epoch row: %s", st.Frames, st.FaceFrames, p.RowText)
	e.checkCounters(t, session, st, true)

	// The session list links to it; following the link opens the session page.
	lctx, lcancel := context.WithTimeout(bctx, 20*time.Second)
	defer lcancel()
	link := chromedp.CSS(`#sessions a[href="session/` + session + `"]`)
	if err := chromedp.Do(lctx, chromedp.Navigate(e.base), chromedp.WaitVisible(link)); err != nil {
		t.Fatalf("session list: %v", err)
	}
	row, err := chromedp.Run(lctx, chromedp.Text(chromedp.CSS("#sessions tbody tr")))
	if err != nil || !strings.Contains(row, "ended") || !strings.Contains(row, "180") {
		t.Errorf("session list row %q (%v), want the ended session with 180 frames", row, err)
	}
	if err := chromedp.Do(lctx, chromedp.Click(link), chromedp.WaitVisible(chromedp.CSS("#epochs tbody tr"))); err != nil {
		t.Fatalf("following the link: %v", err)
	}
	if loc, _ := chromedp.Run(lctx, chromedp.Location()); !strings.HasSuffix(loc, "/session/"+session) {
		t.Errorf("the link led to %s", loc)
	}
}

// extractEpoch returns the first epoch's response mean, as the page prints it (3 decimals).
func extractEpoch(t *testing.T, snapshot []byte) string {
	t.Helper()
	var s struct {
		Summary aggregate.Summary `json:"summary"`
	}
	if err := jsonUnmarshal(snapshot, &s); err != nil || len(s.Summary.Epochs) != 1 || s.Summary.Epochs[0].ResponseMean == nil {
		t.Fatalf("snapshot summary: %v %+v", err, s.Summary.Epochs)
	}
	return fmt.Sprintf("%.3f", *s.Summary.Epochs[0].ResponseMean)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
