package dashboard_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/affectlab/affect/dashboard/browsertest"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/record"
)

// pageState is what the session page holds (window.affect and the DOM).
type pageState struct {
	Frames       int64   `json:"frames"`
	Status       string  `json:"status"`
	OvPoints     int     `json:"ov"`
	RcPoints     int     `json:"rc"`
	Points       int     `json:"points"`
	OvWidthMS    float64 `json:"ovw"`
	LastBinEnd   float64 `json:"lastEnd"`
	Updates      int     `json:"updates"`
	Bytes        int     `json:"bytes"`
	HeapBytes    float64 `json:"heap"`
	EpochRows    int     `json:"epochRows"`
	PendingRows  int     `json:"pendingRows"`
	SummaryFrame int64   `json:"summaryFrames"`
	CanvasW      int     `json:"canvasW"`
	Current      string  `json:"current"`
}

const pageStateJS = `(() => {
  const a = window.affect || {};
  const info = a.info || {};
  let ov = 0, lastEnd = 0;
  for (const b of (a.ov && a.ov.bins) || []) if (b) { ov++; lastEnd = (b[0] + 1) * a.ov.w; }
  const rows = document.querySelectorAll('#epochs tbody tr');
  return {
    frames: info.frames || 0, status: info.status || '',
    ov: ov, rc: a.rc ? a.rc.bins.size : 0, points: +(document.body.dataset.points || 0),
    ovw: a.ov ? a.ov.w : 0, lastEnd: lastEnd,
    updates: a.updates || 0, bytes: a.bytes || 0,
    heap: performance.memory ? performance.memory.usedJSHeapSize : 0,
    epochRows: rows.length, pendingRows: document.querySelectorAll('#epochs tbody tr.pending').length,
    summaryFrames: a.summary ? a.summary.overall.frames : 0,
    canvasW: document.getElementById('timeline').width,
    current: document.getElementById('current').textContent,
  };
})()`

func readPage(t testing.TB, ctx context.Context) pageState {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := chromedp.Run(c, chromedp.Evaluate[pageState](pageStateJS))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return st
}

func waitPage(t testing.TB, ctx context.Context, d time.Duration, what string, cond func(pageState) bool) pageState {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := readPage(t, ctx)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for the page to show %s; page: %+v", d, what, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrowserHourSession leaves the session page open in headless Chromium
// through a simulated 1-hour session: 108,000 frames (30 frames/s) and six
// markers published as fast as the broker takes them, with the real
// aggregator running. The page's data, the JSON snapshot and the server's
// memory per session stay bounded, and the page and server keep answering.
func TestBrowserHourSession(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated 1-hour session (108,000 frames): skipped with -short")
	}
	nc, js := startBroker(t)
	srv, base, _ := startDashboard(t, nc)
	const session = "hour-1"
	const total, chunk = 108000, 6000 // 200 s of frames per chunk
	stopAgg := runAggregator(t, js, session, time.Second)
	publishEvent(t, js, pipeline.NewStartEvent(session, pipeline.SessionStart{Participant: "P01", Source: "synthetic", FPS: 30, StartedUnixNano: time.Now().UnixNano()}))

	bctx := browsertest.Start(t, browsertest.Options{})
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"session/"+session)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, bctx, 10*time.Second, "the session header", func(p pageState) bool { return p.Status != "" })

	var maxSnap, maxPoints int
	var maxSnapLat, maxEvalLat time.Duration
	markers := 0
	for i := 0; i < total; i += chunk {
		publish(t, nc, synthFrames(session, i, chunk))
		if (i/chunk)%3 == 1 {
			markers++
			cond := []string{"funny", "neutral"}[markers%2]
			publishEvent(t, js, pipeline.NewMarkerEvent(session, record.Marker{OnsetMS: float64(i) * 1000 / 30, Label: "stim" + string(rune('0'+markers)), Condition: cond}))
		}
		t0 := time.Now()
		_, size := getSnapshot(t, base, session)
		maxSnapLat = max(maxSnapLat, time.Since(t0))
		maxSnap = max(maxSnap, size)
		t0 = time.Now()
		p := readPage(t, bctx)
		maxEvalLat = max(maxEvalLat, time.Since(t0))
		maxPoints = max(maxPoints, p.Points)
	}
	t.Logf("published %d frames and %d markers", total, markers)
	p := waitPage(t, bctx, 60*time.Second, "every frame and a summary of every frame with all epochs", func(p pageState) bool {
		return p.Frames == total && p.SummaryFrame == total && p.EpochRows == markers && p.PendingRows == 0
	})
	maxPoints = max(maxPoints, p.Points)
	snap, snapBytes := getSnapshot(t, base, session)
	mem, ok := srv.SessionMemory(session)
	if !ok {
		t.Fatal("session not loaded")
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	browsertest.SaveArtifact(t, "dashboard-1h-session.png", png)
	raw, _ := json.Marshal(synthFrames(session, 0, 1))

	t.Logf("1-hour session, 108,000 frames: page holds %d points (%d whole-session bins of %.1f s + %d recent 100 ms bins; most ever %d); "+
		"snapshot JSON %d bytes (largest during the session %d); page received %d updates, %d bytes in all (the frames themselves are ~%d bytes); "+
		"page JS heap %.1f MiB; server state for the session ~%d bytes; slowest snapshot request %v, slowest page evaluation %v during the flood",
		p.Points, p.OvPoints, p.OvWidthMS/1000, p.RcPoints, maxPoints, snapBytes, maxSnap, p.Updates, p.Bytes, len(raw)*total,
		p.HeapBytes/(1<<20), mem, maxSnapLat.Round(time.Millisecond), maxEvalLat.Round(time.Millisecond))

	if p.OvPoints > 1024 || p.OvPoints < 512 || p.RcPoints > 600 || maxPoints > 1024+600 {
		t.Errorf("page points: %d whole-session (want 512..1024), %d recent (want <= 600), most ever %d (want <= 1624)", p.OvPoints, p.RcPoints, maxPoints)
	}
	if p.LastBinEnd < 3600e3 {
		t.Errorf("the whole-session timeline ends at %.0f s, want the full hour", p.LastBinEnd/1000)
	}
	if snapBytes > 128<<10 || maxSnap > 128<<10 {
		t.Errorf("snapshot %d bytes (largest %d), want <= 128 KiB", snapBytes, maxSnap)
	}
	if mem > 256<<10 {
		t.Errorf("server state for the session %d bytes, want <= 256 KiB", mem)
	}
	if p.Bytes > len(raw)*total/10 {
		t.Errorf("the page received %d bytes, more than a tenth of the frames' %d bytes", p.Bytes, len(raw)*total)
	}
	if p.HeapBytes > 64<<20 {
		t.Errorf("page JS heap %.0f MiB, want <= 64 MiB", p.HeapBytes/(1<<20))
	}
	if maxSnapLat > 2*time.Second || maxEvalLat > 2*time.Second {
		t.Errorf("unresponsive during the flood: snapshot %v, page %v (bound 2 s)", maxSnapLat, maxEvalLat)
	}
	if snap.Summary == nil || len(snap.Summary.Conditions) != 2 {
		t.Errorf("summary conditions missing: %+v", snap.Summary)
	}

	// A dashboard started afterwards reads the whole stored hour back.
	stopAgg()
	t0 := time.Now()
	srv2, base2, _ := startDashboard(t, nc)
	var s2 snapshot
	waitFor(t, 60*time.Second, "the second dashboard to read the stored hour", func() bool {
		s2 = pollSnapshot(t, base2, session)
		return s2.Info.Frames == total && s2.Info.Pending == 0
	})
	mem2, _ := srv2.SessionMemory(session)
	t.Logf("a new dashboard read the stored hour back in %v; its state for the session ~%d bytes", time.Since(t0).Round(time.Millisecond), mem2)
	if s2.Ov.N != snap.Ov.N || s2.Info.FaceFrames != snap.Info.FaceFrames || len(s2.Markers) != markers {
		t.Errorf("read back: %d bins, %d face frames, %d markers; live view had %d, %d, %d", s2.Ov.N, s2.Info.FaceFrames, len(s2.Markers), snap.Ov.N, snap.Info.FaceFrames, markers)
	}
}
