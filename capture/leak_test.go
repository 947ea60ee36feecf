//go:build matprofile

package capture_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/internal/testenv"
)

// TestLeakCapture reads every kind of source, including failing ones, and
// checks that no Mat is left open (run with -tags matprofile).
func TestLeakCapture(t *testing.T) {
	dir := t.TempDir()
	data, _ := os.ReadFile(filepath.Join(testenv.Root(t), "samples", "face.jpg"))
	os.WriteFile(filepath.Join(dir, "a.jpg"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "b.png"), []byte("broken"), 0o644)
	checkMats := testenv.CheckMats(t)
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
	checkMats()
}
