//go:build matprofile

package capture_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

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
	// A served stream killed mid-read: the connection's goroutine closes its
	// frames and capture when the read returns.
	if _, err := exec.LookPath("ffmpeg"); err == nil {
		s := testenv.ServeStream(t, testenv.Sample(t))
		src := openStream(t, s.URL, capture.Reconnect(time.Second), capture.ReadTimeout(time.Second))
		readN(t, src, 10)
		s.Kill()
		readUntilError(t, src)
		src.Close()
		time.Sleep(time.Second)
	}
	checkMats()
}
