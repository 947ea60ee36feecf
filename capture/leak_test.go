//go:build matprofile

package capture_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/internal/testenv"
	"gocv.io/x/gocv"
)

// TestLeakCapture reads every kind of source, including failing ones, and
// checks that no Mat is left open (run with -tags matprofile).
func TestLeakCapture(t *testing.T) {
	dir := t.TempDir()
	data, _ := os.ReadFile(filepath.Join(testenv.Root(t), "samples", "face.jpg"))
	os.WriteFile(filepath.Join(dir, "a.jpg"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "b.png"), []byte("broken"), 0o644)
	before := gocv.MatProfile.Count()
	probe := gocv.NewMat()
	if gocv.MatProfile.Count() != before+1 {
		t.Fatal("gocv.MatProfile does not count Mats: run with -tags matprofile")
	}
	probe.Close()
	for _, spec := range []string{testenv.Sample(t), dir, filepath.Join(dir, "a.jpg"), filepath.Join(dir, "b.png"), "41"} {
		for _, opts := range [][]capture.Option{nil, {capture.Every(4)}, {capture.FPS(3)}} {
			src, err := capture.Open(spec, opts...)
			if err != nil {
				continue
			}
			capture.ReadAll(context.Background(), src, func(capture.Frame) error { return nil })
			src.Close()
		}
	}
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats leaked:\n%s", n, b.String())
	}
}
