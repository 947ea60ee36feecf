package smooth

import (
	"fmt"
	"math"
	"testing"

	"github.com/affectlab/affect/record"
)

// step is 0 before frame at and 1 from it on.
func step(n, at int) ([]float64, []bool) {
	x := make([]float64, n)
	ok := make([]bool, n)
	for i := range x {
		ok[i] = true
		if i >= at {
			x[i] = 1
		}
	}
	return x, ok
}

func TestCenteredAddsNoLag(t *testing.T) {
	for _, hw := range []int{0, 1, 3, 7, 15} {
		x, ok := step(100, 50)
		y, err := Centered(x, ok, hw)
		if err != nil {
			t.Fatal(err)
		}
		// A centred window is symmetric: it reaches 0.5 at the step itself
		// (window i-hw..i+hw holds hw+1 ones of 2hw+1 at i = step).
		if lag := OnsetLag(y, 50, 0.5); lag != 0 {
			t.Errorf("halfWidth %d: onset lag %v frames, want 0", hw, lag)
		}
		// and it is symmetric around the step: y[50-k] + y[49+k] = 1.
		for k := 1; k <= hw; k++ {
			if s := y[50-k] + y[49+k]; math.Abs(s-1) > 1e-12 {
				t.Errorf("halfWidth %d: not symmetric at %d: %v", hw, k, s)
			}
		}
	}
}

func TestCenteredSkipsMissingFrames(t *testing.T) {
	x := []float64{0.2, 99, 0.4, 0.6}
	ok := []bool{true, false, true, true}
	y, err := Centered(x, ok, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.2, math.NaN(), 0.5, 0.5}
	for i := range want {
		if math.IsNaN(want[i]) != math.IsNaN(y[i]) || (!math.IsNaN(want[i]) && math.Abs(y[i]-want[i]) > 1e-12) {
			t.Errorf("y[%d] = %v, want %v", i, y[i], want[i])
		}
	}
	if _, err := Centered(x, ok, -1); err == nil {
		t.Error("negative halfWidth accepted")
	}
}

func TestEMALagIsTauLn2(t *testing.T) {
	const fps = 30.0
	for _, tau := range []float64{100, 200, 500} {
		e, err := NewEMA(tau, 0)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := step(300, 100)
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = e.Update(float64(i)*1000/fps, v)
		}
		lagMS := OnsetLag(y, 100, 0.5) * 1000 / fps
		want := tau * math.Ln2
		// measured on whole frames: within one frame of tau·ln2
		if math.Abs(lagMS-want) > 1000/fps {
			t.Errorf("tau %v ms: onset lag %.1f ms, want %.1f ± 33 ms", tau, lagMS, want)
		}
	}
	if _, err := NewEMA(0, 0); err == nil {
		t.Error("tau 0 accepted")
	}
}

func TestEMAResetsAfterGap(t *testing.T) {
	e, _ := NewEMA(200, 1000)
	e.Update(0, 0)
	e.Update(33, 0)
	if y := e.Update(5000, 1); y != 1 {
		t.Errorf("after a 5 s gap the filter should restart at the new score, got %v", y)
	}
}

func ExampleEMA() {
	e, _ := NewEMA(200, 0) // 200 ms time constant: onset lag 200·ln2 ≈ 139 ms
	for i, x := range []float64{0, 0, 1, 1, 1, 1, 1, 1} {
		fmt.Printf("%.2f ", e.Update(float64(i)*33.3, x))
	}
	fmt.Println()
	// Output: 0.00 0.00 0.15 0.28 0.39 0.49 0.57 0.63
}

func TestFrames(t *testing.T) {
	// 30 frames/s: a step from 0 to 1 at frame 10, no face at frame 5.
	var frames []record.FrameScore
	for i := range 20 {
		f := record.FrameScore{Frame: int64(i), MediaMS: float64(i) * 1000 / 30}
		if i != 5 {
			h := 0.0
			if i >= 10 {
				h = 1
			}
			f.FaceFound, f.Primary = true, &record.Face{Happiness: h}
		}
		frames = append(frames, f)
	}
	shared := frames[12].Primary
	// 100 ms window = ±1.5 frames -> half-width 2 frames (rounded): a 5-frame centred mean.
	if err := Frames(frames, 100); err != nil {
		t.Fatal(err)
	}
	want := map[int]float64{0: 0, 8: 0.2, 9: 0.4, 10: 0.6, 11: 0.8, 12: 1, 19: 1}
	for i, w := range want {
		got := frames[i].Primary.Smoothed
		if got == nil || math.Abs(*got-w) > 1e-12 {
			t.Errorf("frame %d: smoothed %v, want %v", i, got, w)
		}
	}
	if frames[5].Primary != nil {
		t.Error("a frame with no face got a score")
	}
	// The step's midpoint (0.5) stays between frames 9 and 10: no onset lag.
	if !(*frames[9].Primary.Smoothed < 0.5 && *frames[10].Primary.Smoothed > 0.5) {
		t.Error("onset moved")
	}
	if shared.Smoothed != nil {
		t.Error("Frames changed a face it does not own")
	}
	if err := Frames(frames, -1); err == nil {
		t.Error("negative window accepted")
	}
}
