//go:build matprofile

package export_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/affectlab/affect/export"
	"gocv.io/x/gocv"
)

// TestLeakPlot draws plots, one of them failing, and checks that every Mat
// was closed (run with -tags matprofile).
func TestLeakPlot(t *testing.T) {
	before := gocv.MatProfile.Count()
	probe := gocv.NewMat()
	if gocv.MatProfile.Count() != before+1 {
		t.Fatal("gocv.MatProfile does not count Mats: run with -tags matprofile")
	}
	probe.Close()
	if err := export.PlotPNG(io.Discard, frames(), export.PlotOptions{Markers: []export.PlotMarker{{TimeMS: 10, Label: "m"}}}); err != nil {
		t.Fatal(err)
	}
	export.PlotPNG(io.Discard, frames(), export.PlotOptions{Width: 1, Height: 1})
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats leaked:\n%s", n, b.String())
	}
}
