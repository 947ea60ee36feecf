package aggregate

import (
	"testing"

	"github.com/affectlab/affect/record"
)

// BenchmarkSummaryOneHour: the cost of one live Summary of a one-hour session
// at 30 frames/s (108,000 frames, 60 markers); `affect aggregate` computes one
// per second.
func BenchmarkSummaryOneHour(b *testing.B) {
	a, _ := New(DefaultConfig())
	for i := range 108000 {
		f := record.FrameScore{Session: "s", Source: "cam", Frame: int64(i), MediaMS: float64(i) * 1000 / 30}
		if i%9 != 0 {
			f.FaceFound, f.Primary = true, &record.Face{Happiness: float64(i*31%100) / 100}
		}
		a.Add(f)
	}
	for i := range 60 {
		a.AddMarker(Marker{OnsetMS: float64(i) * 60000, Label: "m", Condition: []string{"a", "b"}[i%2]})
	}
	b.ResetTimer()
	for b.Loop() {
		_ = a.Summary()
	}
}
