package capture_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/internal/testenv"
)

// openStream opens the served stream (retrying while ffmpeg gets ready).
func openStream(t *testing.T, url string, opts ...capture.Option) capture.Source {
	t.Helper()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var src capture.Source
		if src, err = capture.Open(url, opts...); err == nil {
			t.Cleanup(func() { src.Close() })
			return src
		}
	}
	t.Fatalf("cannot open %s: %v", url, err)
	return nil
}

// readN reads n frames.
func readN(t *testing.T, src capture.Source, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		f, err := src.Next(context.Background())
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		f.Close()
	}
}

// readUntilError reads until Next fails and returns the error and how long it took.
func readUntilError(t *testing.T, src capture.Source) (error, time.Duration, int) {
	t.Helper()
	start := time.Now()
	n := 0
	for {
		f, err := src.Next(context.Background())
		if err != nil {
			return err, time.Since(start), n
		}
		f.Close()
		n++
	}
}

// A stream whose server is killed -9 mid-session is reopened for the
// reconnect window, then ends with ErrSourceLost and the gap recorded (issue
// 9, defect 8: it ended at once as a normal end of stream).
func TestStreamServerKilledIsLost(t *testing.T) {
	s := testenv.ServeStream(t, testenv.Sample(t))
	src := openStream(t, s.URL, capture.Reconnect(2*time.Second), capture.ReadTimeout(time.Second))
	if k := src.Info().Kind; k != capture.KindStream {
		t.Fatalf("kind %s", k)
	}
	readN(t, src, 20)
	s.Kill()
	err, took, _ := readUntilError(t, src)
	if !errors.Is(err, capture.ErrSourceLost) {
		t.Fatalf("after the server died: %v, want ErrSourceLost", err)
	}
	if took < 2*time.Second || took > 12*time.Second {
		t.Errorf("gave up after %v; want the 2 s reconnect window (plus the read deadline)", took)
	}
	gaps := capture.Gaps(src)
	if len(gaps) != 1 || gaps[0].Recovered || gaps[0].ToMS <= gaps[0].FromMS || gaps[0].FromMS <= 0 {
		t.Fatalf("gaps %+v; want one unrecovered gap after the first frames", gaps)
	}
	t.Logf("%v after %v; gap %+v", err, took, gaps[0])
}

// A frozen server (SIGSTOP: the connection stays, no frame comes) is caught
// by the read deadline, not after FFmpeg's own 30 s (issue 9, defect 8).
func TestStreamServerFrozenIsLost(t *testing.T) {
	s := testenv.ServeStream(t, testenv.Sample(t))
	src := openStream(t, s.URL, capture.Reconnect(2*time.Second), capture.ReadTimeout(time.Second))
	readN(t, src, 20)
	s.Freeze()
	err, took, _ := readUntilError(t, src)
	if !errors.Is(err, capture.ErrSourceLost) {
		t.Fatalf("after the server froze: %v, want ErrSourceLost", err)
	}
	if took > 12*time.Second {
		t.Errorf("gave up after %v; want about read deadline + reconnect window (3 s)", took)
	}
	gaps := capture.Gaps(src)
	if len(gaps) != 1 || gaps[0].Recovered || !strings.Contains(gaps[0].Reason, "no frame for 1s") {
		t.Fatalf("gaps %+v; want one unrecovered stall", gaps)
	}
	t.Logf("%v after %v", err, took)
}

// A stream that comes back within the window goes on; the gap is recorded.
func TestStreamReconnects(t *testing.T) {
	s := testenv.ServeStream(t, testenv.Sample(t))
	src := openStream(t, s.URL, capture.Reconnect(20*time.Second), capture.ReadTimeout(2*time.Second))
	readN(t, src, 20)
	s.Kill()
	time.Sleep(500 * time.Millisecond)
	s.Start(t)
	readN(t, src, 20)
	gaps := capture.Gaps(src)
	if len(gaps) != 1 || !gaps[0].Recovered || gaps[0].ToMS-gaps[0].FromMS < 400 {
		t.Fatalf("gaps %+v; want one recovered gap of at least the 0.5 s outage", gaps)
	}
	if gaps[0].LostFrames < 0 {
		t.Errorf("lost frames unknown though the stream has a frame rate (%g)", src.Info().FPS)
	}
	t.Logf("gap %+v", gaps[0])
}
