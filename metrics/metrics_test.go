package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches h's /metrics text and parses it with the Prometheus text parser.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value returns the value of the family's series whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestCountersAndHistograms(t *testing.T) {
	m := New()
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }
	const n, noFace = 90, 30
	for i := range n {
		m.FrameCaptured("s1")
		m.FrameScored("s1", i%3 != 0)
		captured := now.Add(-time.Duration(i) * time.Millisecond).UnixNano()
		m.FramePublished("s1", captured)
		m.FrameAggregated("s1", captured)
		m.DashboardFrame("s1", i%3 != 0, captured)
	}
	m.FrameCaptured("s2")
	m.FramesUndelivered("s1", 4)
	m.FramesUndelivered("s1", 0)
	m.SetConsumerLag("s1", "aggregate", 17)
	m.DashboardSkipped("s1", SkipMalformed)
	m.AddDashboardClients(2)
	m.AddDashboardClients(-1)
	m.SetDashboardSessions(3)
	fams := scrape(t, m.Handler())

	s1 := map[string]string{"session": "s1"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"affect_frames_captured_total", s1, n},
		{"affect_frames_captured_total", map[string]string{"session": "s2"}, 1},
		{"affect_frames_scored_total", s1, n},
		{"affect_frames_no_face_total", s1, noFace},
		{"affect_frames_published_total", s1, n},
		{"affect_frames_undelivered_total", s1, 4},
		{"affect_frames_aggregated_total", s1, n},
		{"affect_dashboard_frames_total", s1, n},
		{"affect_dashboard_no_face_frames_total", s1, noFace},
		{"affect_dashboard_skipped_messages_total", map[string]string{"session": "s1", "reason": SkipMalformed}, 1},
		{"affect_capture_to_publish_seconds", s1, n}, // sample count
		{"affect_capture_to_aggregate_seconds", s1, n},
		{"affect_capture_to_dashboard_seconds", s1, n},
		{"affect_consumer_lag_messages", map[string]string{"session": "s1", "consumer": "aggregate"}, 17},
		{"affect_dashboard_clients", nil, 1},
		{"affect_dashboard_sessions", nil, 3},
	} {
		got, ok := value(t, fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Latencies were 0..89 ms: the histogram sum is their total.
	h := fams["affect_capture_to_publish_seconds"].Metric[0].Histogram
	if got, want := h.GetSampleSum(), 0.001*float64(n*(n-1)/2); got < want-1e-6 || got > want+1e-6 {
		t.Errorf("capture-to-publish sum %v s, want %v s", got, want)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("Go runtime metrics missing")
	}

	m.Forget("s1")
	fams = scrape(t, m.Handler())
	if _, ok := value(t, fams, "affect_frames_scored_total", s1); ok {
		t.Error("series of s1 still exported after Forget")
	}
	if _, ok := value(t, fams, "affect_frames_captured_total", map[string]string{"session": "s2"}); !ok {
		t.Error("Forget(s1) removed s2")
	}
}

func TestFramesPerSecond(t *testing.T) {
	m := New()
	t0 := time.Unix(1_700_000_000, 0)
	now := t0
	m.now = func() time.Time { return now }
	// 30 frames in each of 7 seconds, then 10 in the current (incomplete) second.
	for s := range 7 {
		for i := range 30 {
			now = t0.Add(time.Duration(s)*time.Second + time.Duration(i)*33*time.Millisecond)
			m.FrameScored("live", true)
		}
	}
	for range 10 {
		now = t0.Add(7*time.Second + 100*time.Millisecond)
		m.FrameScored("live", true)
	}
	fams := scrape(t, m.Handler())
	if got, _ := value(t, fams, "affect_frames_per_second", map[string]string{"session": "live"}); got != 30 {
		t.Errorf("frames/s %v, want 30 (the last 5 complete seconds)", got)
	}
	// Ten seconds of silence: the rate falls to 0.
	now = t0.Add(20 * time.Second)
	fams = scrape(t, m.Handler())
	if got, ok := value(t, fams, "affect_frames_per_second", map[string]string{"session": "live"}); !ok || got != 0 {
		t.Errorf("frames/s after silence %v (present %v), want 0", got, ok)
	}
}

func TestConcurrentUse(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := fmt.Sprintf("s%d", g%2)
			for range 1000 {
				m.FrameScored(s, true)
				m.FramePublished(s, time.Now().UnixNano())
			}
		}()
	}
	wg.Wait()
	fams := scrape(t, m.Handler())
	for _, s := range []string{"s0", "s1"} {
		if got, _ := value(t, fams, "affect_frames_scored_total", map[string]string{"session": s}); got != 4000 {
			t.Errorf("%s scored %v, want 4000", s, got)
		}
	}
}

func Example() {
	m := New() // or use the package-level functions, which update Default
	m.FrameCaptured("pilot-01")
	m.FrameScored("pilot-01", false) // a frame with no face
	m.FramePublished("pilot-01", time.Now().Add(-20*time.Millisecond).UnixNano())
	http.Handle("/metrics", m.Handler())
	fmt.Println("ok")
	// Output: ok
}
