package capture_test

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/internal/testenv"
)

func TestOpenBadInput(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.mp4")
	os.WriteFile(text, []byte("this is not a video, just some text\n"), 0o644)
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	os.WriteFile(filepath.Join(empty, "readme.txt"), []byte("no images here"), 0o644)
	zero := filepath.Join(dir, "zero.mp4")
	os.WriteFile(zero, nil, 0o644)
	badImg := filepath.Join(dir, "broken.png")
	os.WriteFile(badImg, []byte("\x89PNG garbage"), 0o644)

	// A truncated mp4: the sample cut to its first 40% (moov atom at the start).
	data, err := os.ReadFile(testenv.Sample(t))
	if err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "truncated.mp4")
	os.WriteFile(trunc, data[:len(data)*4/10], 0o644)
	// A truncated mp4 whose header is gone too.
	head := filepath.Join(dir, "head.mp4")
	os.WriteFile(head, data[:200], 0o644)
	// A JPEG cut short: OpenCV decodes its top and greys the rest without an error.
	jpg, err := os.ReadFile(filepath.Join(testenv.Root(t), "samples", "face.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	cutJPEG := filepath.Join(dir, "cut.jpg")
	os.WriteFile(cutJPEG, jpg[:len(jpg)*6/10], 0o644)

	tests := []struct {
		name, spec string
		want       error
	}{
		{"missing file", filepath.Join(dir, "nope.mp4"), capture.ErrNotFound},
		{"empty name", "", capture.ErrNotFound},
		{"text file named mp4", text, capture.ErrUnreadable},
		{"zero-byte file", zero, capture.ErrUnreadable},
		{"header only mp4", head, capture.ErrUnreadable},
		{"truncated mp4", trunc, capture.ErrTruncated},
		{"empty directory", empty, capture.ErrEmpty},
		{"unsupported URL", "ftp://example.com/video.mp4", capture.ErrUnsupported},
		{"unknown scheme", "foo://bar", capture.ErrUnsupported},
		{"negative camera", "-1", capture.ErrUnsupported},
		{"absent camera", "37", capture.ErrNoCamera},
		{"broken image", badImg, capture.ErrUnreadable},
		{"truncated jpeg", cutJPEG, capture.ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := capture.Open(tc.spec)
			if err == nil {
				// Some damage only shows while reading.
				err = capture.ReadAll(context.Background(), src, func(capture.Frame) error { return nil })
				src.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open(%q): got error %v, want %v", tc.spec, err, tc.want)
			}
			if len(err.Error()) < 20 {
				t.Errorf("error message %q is too terse to act on", err)
			}
		})
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []capture.Option{capture.Every(0), capture.FPS(-1)} {
		if _, err := capture.Open(testenv.Sample(t), o); err == nil {
			t.Error("bad option accepted")
		}
	}
}

func TestVideoFrames(t *testing.T) {
	tests := []struct {
		name      string
		opts      []capture.Option
		wantN     int
		wantStep  int64
		wantMaxDT float64
	}{
		{"all frames", nil, 180, 1, 66.7 + 1},
		{"every 3rd", []capture.Option{capture.Every(3)}, 60, 3, 200 + 1},
		{"5 fps", []capture.Option{capture.FPS(5)}, 60, 3, 200 + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := capture.Open(testenv.Sample(t), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			info := src.Info()
			if info.Kind != capture.KindFile || info.Width != 640 || info.Height != 480 || math.Abs(info.FPS-15) > 0.01 || info.FrameCount != 180 {
				t.Fatalf("info = %+v", info)
			}
			n := 0
			prevIdx, prevT := int64(-1), -1.0
			err = capture.ReadAll(context.Background(), src, func(f capture.Frame) error {
				if f.Image.Empty() || f.Image.Cols() != 640 {
					t.Fatalf("frame %d: bad image", f.Index)
				}
				if prevIdx >= 0 {
					if f.Index-prevIdx != tc.wantStep {
						t.Fatalf("frame index step %d -> %d, want %d", prevIdx, f.Index, tc.wantStep)
					}
					if dt := f.TimeMS - prevT; dt <= 0 || dt > tc.wantMaxDT {
						t.Fatalf("time step %g ms at frame %d", dt, f.Index)
					}
				} else if f.Index != 0 || f.TimeMS != 0 {
					t.Fatalf("first frame index %d time %g, want 0, 0", f.Index, f.TimeMS)
				}
				prevIdx, prevT = f.Index, f.TimeMS
				n++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.wantN {
				t.Fatalf("got %d frames, want %d", n, tc.wantN)
			}
		})
	}
}

func TestDirectoryWithUnreadableImage(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(testenv.Root(t), "samples", "face.jpg")
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.jpg"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "b.png"), []byte("not a png"), 0o644)
	os.WriteFile(filepath.Join(dir, "c.jpg"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644)
	src, err := capture.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var names []string
	var errs int
	for {
		f, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.Name)
		if f.Err != nil {
			errs++
			if !errors.Is(f.Err, capture.ErrUnreadable) || !f.Image.Empty() {
				t.Errorf("b.png: err %v", f.Err)
			}
		}
		f.Close()
	}
	if len(names) != 3 || names[1] != "b.png" || errs != 1 {
		t.Fatalf("frames %v, %d errors; want a.jpg b.png c.jpg with one error", names, errs)
	}
}

func TestContextCancel(t *testing.T) {
	src, err := capture.Open(testenv.Sample(t), capture.Realtime(true))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
