package dashboard

import (
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
)

func defaultOptions() *options {
	return &options{maxPoints: 1024, baseBinMS: 100, recentWindow: time.Minute, recentBinMS: 100, maxMarkers: 10000}
}

// feed adds n frames at 30 frames/s and a marker every 10 minutes, and sets
// a summary with those epochs.
func feed(s *session, n int) {
	now := time.Now()
	f := record.FrameScore{Schema: 1, Session: s.name, Source: "cam", Primary: &record.Face{}}
	var epochs []aggregate.Epoch
	for i := range n {
		f.Frame, f.MediaMS = int64(i), float64(i)*1000/30
		f.FaceFound = i%7 != 3
		f.Primary.Happiness = 0.5 + 0.45*math.Sin(float64(i)/200)
		s.addFrame(&f, true, now)
		if i%18000 == 9000 {
			m := record.Marker{OnsetMS: f.MediaMS, Label: fmt.Sprintf("stim%d", i), Condition: "c"}
			s.addEvent(&pipeline.Event{Type: pipeline.EventMarker, Marker: &m})
			v := 0.5
			epochs = append(epochs, aggregate.Epoch{Label: m.Label, Condition: m.Condition, OnsetMS: m.OnsetMS, BaselineMean: &v, ResponseMean: &v, Peak: &v})
		}
	}
	s.setSummary(&aggregate.Summary{Schema: 1, Session: s.name, Epochs: epochs}, false)
}

func heap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestSessionMemoryIsBounded measures the Go heap a session holds after 6
// minutes and after 1 hour of frames: the same, and under 256 KiB.
func TestSessionMemoryIsBounded(t *testing.T) {
	for _, c := range []struct {
		name   string
		frames int
	}{{"6 min", 10800}, {"1 hour", 108000}, {"4 hours", 432000}} {
		if testing.Short() && c.frames > 108000 {
			continue
		}
		before := heap()
		s := newSession("mem", defaultOptions())
		feed(s, c.frames)
		after := heap()
		grown := int64(after) - int64(before)
		up, _, _ := s.update(0, time.Now())
		t.Logf("%s (%d frames): session holds %d bytes of Go heap (estimate %d); full update %d bytes, %d whole-session bins of %.1f s",
			c.name, c.frames, grown, s.memBytes(), len(up), len(s.overview.bins), s.overview.width/1000)
		if grown > 256<<10 {
			t.Errorf("%s: the session holds %d bytes, want <= 256 KiB", c.name, grown)
		}
		if len(up) > 96<<10 {
			t.Errorf("%s: full update %d bytes, want <= 96 KiB", c.name, len(up))
		}
		runtime.KeepAlive(s)
	}
}

// BenchmarkAddFrame: frames per second one session takes in (decode excluded).
func BenchmarkAddFrame(b *testing.B) {
	s := newSession("bench", defaultOptions())
	f := record.FrameScore{Schema: 1, Session: "bench", Source: "cam", FaceFound: true, Primary: &record.Face{Happiness: 0.5}}
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.Frame, f.MediaMS = int64(i), float64(i)*1000/30
		s.addFrame(&f, true, now)
	}
}

// BenchmarkFullUpdate: encoding a page's first update of a 1-hour session.
func BenchmarkFullUpdate(b *testing.B) {
	s := newSession("bench", defaultOptions())
	feed(s, 108000)
	var n int
	b.ReportAllocs()
	for b.Loop() {
		up, _, _ := s.update(0, time.Now())
		n = len(up)
	}
	b.ReportMetric(float64(n), "bytes/update")
}

// BenchmarkDeltaUpdate: one update after a third of a second of frames at
// 30 frames/s, in a 1-hour session.
func BenchmarkDeltaUpdate(b *testing.B) {
	s := newSession("bench", defaultOptions())
	feed(s, 108000)
	f := record.FrameScore{Schema: 1, Session: "bench", Source: "cam", FaceFound: true, Primary: &record.Face{Happiness: 0.5}}
	i := 108000
	_, v, _ := s.update(0, time.Now())
	var n int
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for range 10 {
			f.Frame, f.MediaMS = int64(i), float64(i)*1000/30
			s.addFrame(&f, true, time.Now())
			i++
		}
		b.StartTimer()
		var up []byte
		up, v, _ = s.update(v, time.Now())
		n = len(up)
	}
	b.ReportMetric(float64(n), "bytes/update")
}
