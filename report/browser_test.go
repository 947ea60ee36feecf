package report_test

import (
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/affectlab/affect/dashboard/browsertest"
	"github.com/affectlab/affect/report"
)

type shown struct {
	SVGWidth, SVGHeight float64
	MeanPathLen         int
	BandPathLen         int
	Markers             int
	Mean, Median, Peak  string
	FaceShare           string
	EpochRows           int
	Text                string
	Scripts             int
	Images              int
}

const shownJS = `(() => {
  const svg = document.querySelector('#plot svg');
  const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const t = (id) => (document.getElementById(id) || {}).textContent || '';
  const mean = document.querySelector('svg path.mean'), band = document.querySelector('svg path.band');
  return {
    SVGWidth: r.width, SVGHeight: r.height,
    MeanPathLen: mean ? mean.getAttribute('d').length : 0,
    BandPathLen: band ? band.getAttribute('d').length : 0,
    Markers: document.querySelectorAll('svg line.marker').length,
    Mean: t('mean'), Median: t('median'), Peak: t('peak'), FaceShare: t('faceshare'),
    EpochRows: document.querySelectorAll('#epochs tbody tr').length,
    Text: document.body.innerText,
    Scripts: document.scripts.length, Images: document.images.length,
  };
})()`

// TestReportOpensOfflineInChromium opens the report of the scored sample in
// headless Chromium with every network request made to fail: the page makes
// no request besides its own file, the plot has a size and a drawn line,
// and the summary's numbers are on the page.
func TestReportOpensOfflineInChromium(t *testing.T) {
	frames := sampleFrames(t)
	dir := t.TempDir()
	sum := writeResult(t, dir, "sample", frames, sampleMarkers)
	d, err := report.LoadResult(dir, "sample")
	if err != nil {
		t.Fatal(err)
	}
	p, err := report.Write(filepath.Join(dir, "sample.report.html"), d, report.Options{})
	if err != nil {
		t.Fatal(err)
	}

	ctx := browsertest.Start(t, browsertest.Options{Offline: true, Width: 1200, Height: 900})
	var mu sync.Mutex
	var requests []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	fileURL := (&url.URL{Scheme: "file", Path: p.HTML}).String()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The browser really is offline: a request to the network fails.
	got, err := chromedp.Run(tctx, chromedp.Evaluate[string](`fetch('http://example.org/', {mode: 'no-cors'}).then(() => 'reached').catch(() => 'failed')`, chromedp.EvalAwaitPromise))
	if err != nil || got != "failed" {
		t.Fatalf("the browser is not offline: a fetch %q (%v)", got, err)
	}
	mu.Lock()
	requests = nil
	mu.Unlock()
	if err := chromedp.Do(tctx, chromedp.Navigate(fileURL), chromedp.WaitVisible(chromedp.CSS("#plot svg"))); err != nil {
		t.Fatalf("opening %s: %v", fileURL, err)
	}
	s, err := chromedp.Run(tctx, chromedp.Evaluate[shown](shownJS))
	if err != nil {
		t.Fatal(err)
	}
	if s.SVGWidth < 500 || s.SVGHeight < 150 {
		t.Errorf("plot is %.0fx%.0f px, want a visible plot", s.SVGWidth, s.SVGHeight)
	}
	if s.MeanPathLen < 500 || s.BandPathLen < 500 || s.Markers != 3 {
		t.Errorf("plot: mean path %d chars, band %d, %d markers; want drawn lines and 3 markers", s.MeanPathLen, s.BandPathLen, s.Markers)
	}
	if s.Mean != fmtp(sum.Overall.Mean) || s.Median != fmtp(sum.Overall.Median) || s.Peak != fmtp(sum.Overall.Peak) {
		t.Errorf("page shows mean %q median %q peak %q, want %s %s %s", s.Mean, s.Median, s.Peak, fmtp(sum.Overall.Mean), fmtp(sum.Overall.Median), fmtp(sum.Overall.Peak))
	}
	wantShare := strings.TrimSpace(strings.Split(pctText(*sum.Overall.FaceShare), " ")[0])
	if !strings.HasPrefix(s.FaceShare, wantShare) {
		t.Errorf("page shows face share %q, want %s %%", s.FaceShare, wantShare)
	}
	if s.EpochRows != 3 || !strings.Contains(s.Text, "Conditions") || s.Scripts != 0 || s.Images != 0 {
		t.Errorf("%d epoch rows, conditions shown %v, %d scripts, %d images", s.EpochRows, strings.Contains(s.Text, "Conditions"), s.Scripts, s.Images)
	}
	mu.Lock()
	for _, r := range requests {
		if !strings.HasPrefix(r, "file:") && !strings.HasPrefix(r, "data:") {
			t.Errorf("the report requested %s: it must need no network", r)
		}
	}
	t.Logf("requests made by the page: %v", requests)
	mu.Unlock()
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	browsertest.SaveArtifact(t, "report-sample.png", png)
	t.Logf("plot %.0fx%.0f px; mean %s, face share %s", s.SVGWidth, s.SVGHeight, s.Mean, s.FaceShare)
}

func pctText(v float64) string { return fmtPct(100 * v) }

func fmtPct(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " %" }
