//go:build matprofile

package export_test

import (
	"io"
	"testing"

	"github.com/affectlab/affect/internal/testenv"

	"github.com/affectlab/affect/export"
)

// TestLeakPlot draws plots, one of them failing, and checks that every Mat
// was closed (run with -tags matprofile).
func TestLeakPlot(t *testing.T) {
	checkMats := testenv.CheckMats(t)
	if err := export.PlotPNG(io.Discard, frames(), export.PlotOptions{Markers: []export.PlotMarker{{TimeMS: 10, Label: "m"}}}); err != nil {
		t.Fatal(err)
	}
	export.PlotPNG(io.Discard, frames(), export.PlotOptions{Width: 1, Height: 1})
	checkMats()
}
