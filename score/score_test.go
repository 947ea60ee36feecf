package score_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/score"
)

func runFile(t *testing.T, path string, p classify.ScorerParams) ([]record.FrameScore, score.Stats) {
	t.Helper()
	return runConfig(t, path, score.Config{Session: "t", Source: filepath.Base(path), Scorer: p})
}

// runConfig scores the video at path with cfg and returns every frame.
func runConfig(t *testing.T, path string, cfg score.Config) ([]record.FrameScore, score.Stats) {
	t.Helper()
	src, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var frames []record.FrameScore
	st, err := score.Run(context.Background(), src, cfg, func(f record.FrameScore) error { frames = append(frames, f); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return frames, st
}

func meanHappy(frames []record.FrameScore) (mean, faceShare float64) {
	var n int
	for _, f := range frames {
		if h, ok := f.Happiness(); ok {
			mean += h
			n++
		}
	}
	return mean / float64(max(n, 1)), float64(n) / float64(len(frames))
}

func TestFramesInOrderWithTimestamps(t *testing.T) {
	frames, st := runFile(t, testenv.Sample(t), classify.ScorerParams{})
	if len(frames) != 180 || st.Frames != 180 {
		t.Fatalf("%d frames delivered, stats %d; want 180", len(frames), st.Frames)
	}
	for i, f := range frames {
		if f.Frame != int64(i) || f.Schema != record.SchemaVersion || f.Session != "t" {
			t.Fatalf("frame %d: %+v", i, f)
		}
		// A frame may show faces while the participant is not among them
		// (FaceFound false), never the other way round.
		if f.FaceFound != (f.Primary != nil) || (f.FaceFound && f.NFaces == 0) || (f.FaceFound && (f.FaceID == 0 || f.FaceID != f.Primary.ID)) {
			t.Fatalf("frame %d: face flags disagree: found=%v n=%d id=%d primary=%+v", i, f.FaceFound, f.NFaces, f.FaceID, f.Primary)
		}
		if f.Primary != nil && (f.Primary.Happiness < 0 || f.Primary.Happiness > 1) {
			t.Fatalf("frame %d: happiness %v", i, f.Primary.Happiness)
		}
	}
	// Frames 90-119 show a wall: no face.
	for _, f := range frames[95:115] {
		if f.FaceFound {
			t.Errorf("frame %d: a face on the wall shot: %+v", f.Frame, f.Primary.Box)
		}
	}
}

// The participant is tracked: in the 4-person shot the primary face stays the
// same person rather than jumping to whichever face is largest.
func TestTrackingKeepsParticipant(t *testing.T) {
	frames, _ := runFile(t, testenv.Sample(t), classify.ScorerParams{})
	var prev *record.Box
	jumps := 0
	for _, f := range frames[125:] {
		if f.Primary == nil {
			continue
		}
		b := f.Primary.Box
		if prev != nil {
			dx := (b.X + b.W/2) - (prev.X + prev.W/2)
			if dx*dx > (prev.W/2)*(prev.W/2) {
				jumps++
			}
		}
		prev = &b
	}
	if jumps > 1 {
		t.Errorf("primary face jumped %d times in the group shot", jumps)
	}
}

// Issue 2, point 1: on each CREMA-D clip (a frontal face throughout) a face is
// found in ≥ 95% of frames, and the HAP clip's mean happiness is clearly above
// the NEU and ANG clips'.
func TestCremaClips(t *testing.T) {
	dir := testenv.Shared(t, "video/crema_d")
	matches, _ := filepath.Glob(filepath.Join(dir, "*.mp4"))
	if len(matches) == 0 {
		t.Skip("no CREMA-D clips")
	}
	means := map[string]float64{}
	for _, m := range matches {
		frames, _ := runFile(t, m, classify.ScorerParams{})
		mean, share := meanHappy(frames)
		emo := filepath.Base(m)[9:12] // 1001_DFA_HAP_XX.mp4
		means[emo] = mean
		t.Logf("%s: %d frames, face in %.1f%%, mean happiness %.3f", filepath.Base(m), len(frames), share*100, mean)
		if share < 0.95 {
			t.Errorf("%s: face found in %.1f%% of frames, want ≥ 95%%", filepath.Base(m), share*100)
		}
	}
	for _, other := range []string{"NEU", "ANG"} {
		if means["HAP"] < means[other]+0.2 {
			t.Errorf("HAP mean %.3f is not clearly above %s mean %.3f", means["HAP"], other, means[other])
		}
	}
}

// Issue 2, point 1: one row per video frame on a clip that cuts to an
// audience and a profile view, with plausible boxes where a face is seen.
func TestHamiltonClip(t *testing.T) {
	p := testenv.Shared(t, "video/short_hamilton_clip.mp4")
	src, err := capture.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	n := src.Info().FrameCount
	w, h := src.Info().Width, src.Info().Height
	src.Close()
	frames, _ := runFile(t, p, classify.ScorerParams{})
	if int64(len(frames)) < n-2 || int64(len(frames)) > n {
		t.Fatalf("%d frames scored, header says %d", len(frames), n)
	}
	_, share := meanHappy(frames)
	t.Logf("face in %.1f%% of %d frames", share*100, len(frames))
	if share < 0.3 || share > 0.98 {
		t.Errorf("face share %.2f: the clip has a talking face and cutaways", share)
	}
	for _, f := range frames {
		if b := f.Primary; b != nil {
			if b.Box.X < 0 || b.Box.Y < 0 || b.Box.X+b.Box.W > w || b.Box.Y+b.Box.H > h || b.Box.H < h/10 {
				t.Fatalf("frame %d: implausible box %+v", f.Frame, b.Box)
			}
		}
	}
}
