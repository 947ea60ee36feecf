package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/affectlab/affect/record"
	"gocv.io/x/gocv"
)

// ErrSourceLost: a camera or live stream stopped delivering frames (it went
// away, or stalled past the read deadline) and was not back within the
// reconnect window. Frames before the loss were delivered; the gaps are in
// Gaps(src).
var ErrSourceLost = errors.New("live source lost")

// Defaults of the live-source options.
const (
	// DefaultReconnect is how long a lost camera or stream is reopened before
	// capture gives up with ErrSourceLost.
	DefaultReconnect = 30 * time.Second
	// DefaultReadTimeout is how long a read may wait for a frame before the
	// source counts as stalled (and is reopened).
	DefaultReadTimeout = 5 * time.Second
)

// Reconnect sets how long a camera or stream that stops delivering frames is
// reopened before the source ends with ErrSourceLost (0: give up at once).
// Default DefaultReconnect. Files and images ignore it.
func Reconnect(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("capture: reconnect %v must be ≥ 0", d)
		}
		o.reconnect = d
		return nil
	}
}

// ReadTimeout sets the read deadline of a camera or stream: a read that
// waits longer counts as a stall, and the source is reopened. Default
// DefaultReadTimeout. (OpenCV 4.6's FFmpeg backend only gives up on its own
// after 30 s, and gocv 0.32 cannot pass CAP_PROP_READ_TIMEOUT_MSEC at open,
// so the deadline is kept here: the blocked read is left to its goroutine.)
func ReadTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("capture: read timeout %v must be > 0", d)
		}
		o.readTimeout = d
		return nil
	}
}

// GapReporter is implemented by sources that can lose frames (cameras and
// streams).
type GapReporter interface {
	// Gaps are the stretches without frames so far, in order.
	Gaps() []record.Gap
}

// Gaps returns src's gaps (none for files and images).
func Gaps(src Source) []record.Gap {
	if g, ok := src.(GapReporter); ok {
		return g.Gaps()
	}
	return nil
}

// liveRead is the result of one open or read on a connection.
type liveRead struct {
	m   gocv.Mat
	ok  bool
	err error
}

// liveConn is one opening of a camera or stream, served by its own
// goroutine so that a read that blocks can be given up: the goroutine then
// closes the capture and the frame itself when the read returns.
type liveConn struct {
	req  chan struct{}
	res  chan liveRead
	stop chan struct{}
	once sync.Once
}

// startConn opens the source on a new goroutine (vc, when not nil, is an
// already open capture) and serves reads. The open's result comes first on res.
func startConn(vc *gocv.VideoCapture, open func() (*gocv.VideoCapture, error)) *liveConn {
	c := &liveConn{req: make(chan struct{}), res: make(chan liveRead), stop: make(chan struct{})}
	go func() {
		var err error
		if vc == nil {
			vc, err = open()
		}
		select {
		case c.res <- liveRead{ok: err == nil, err: err}:
		case <-c.stop:
			if vc != nil {
				vc.Close()
			}
			return
		}
		if err != nil {
			return
		}
		defer vc.Close()
		for {
			select {
			case <-c.stop:
				return
			case <-c.req:
			}
			m := gocv.NewMat()
			ok := vc.Read(&m)
			select {
			case c.res <- liveRead{m: m, ok: ok}:
			case <-c.stop:
				m.Close()
				return
			}
		}
	}()
	return c
}

func (c *liveConn) close() { c.once.Do(func() { close(c.stop) }) }

// liveSource reads a camera or a network stream. When it stops delivering
// (the read fails, the stream ends, or no frame comes within the read
// deadline) it is reopened until the reconnect window has passed; each gap
// is logged and kept (Gaps). Media time is the wall clock since capture
// started, so a gap shows in the frames' times too.
type liveSource struct {
	info    Info
	o       options
	open    func() (*gocv.VideoCapture, error)
	samp    sampler
	start   time.Time
	index   int64   // index of the next frame
	lastMS  float64 // media time of the last frame read
	misses  int     // consecutive empty reads
	conn    *liveConn
	lostAt  time.Time // when the current loss began; zero when delivering
	lostWhy string
	gaps    []record.Gap
	failed  error
	mu      sync.Mutex // guards gaps
}

func newLiveSource(vc *gocv.VideoCapture, info Info, o options, open func() (*gocv.VideoCapture, error)) *liveSource {
	s := &liveSource{info: info, o: o, open: open, samp: sampler{o: o}, start: time.Now()}
	s.conn = startConn(vc, open)
	<-s.conn.res // the open result of an already open capture
	return s
}

func (s *liveSource) Info() Info { return s.info }

func (s *liveSource) Close() error {
	if s.conn != nil {
		s.conn.close()
		s.conn = nil
	}
	return nil
}

// Gaps returns a copy of the gaps so far.
func (s *liveSource) Gaps() []record.Gap {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]record.Gap(nil), s.gaps...)
}

func (s *liveSource) mediaMS(t time.Time) float64 {
	return float64(t.Sub(s.start).Microseconds()) / 1000
}

// lose starts (or continues) a loss: the connection is dropped.
func (s *liveSource) lose(why string) {
	if s.conn != nil {
		s.conn.close()
		s.conn = nil
	}
	if s.lostAt.IsZero() {
		s.lostAt, s.lostWhy = time.Now(), why
		slog.Warn("capture: source stopped delivering frames; reopening it", "source", s.info.Name,
			"frames", s.index, "media_ms", s.lastMS, "reason", why, "reconnect_for", s.o.reconnect)
	}
}

func (s *liveSource) addGap(toMS float64, recovered bool) record.Gap {
	g := record.Gap{FromMS: s.lastMS, ToMS: toMS, LostFrames: -1, Reason: s.lostWhy, Recovered: recovered}
	if s.info.FPS > 0 {
		g.LostFrames = max(0, int64(math.Round((toMS-s.lastMS)*s.info.FPS/1000))-1)
	}
	s.mu.Lock()
	s.gaps = append(s.gaps, g)
	s.mu.Unlock()
	return g
}

// reconnect reopens the source until it opens or the window from the start
// of the loss has passed.
func (s *liveSource) reconnect(ctx context.Context) error {
	deadline := s.lostAt.Add(s.o.reconnect)
	for attempt := 1; ; attempt++ {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return s.giveUp()
		}
		c := startConn(nil, s.open)
		t := time.NewTimer(remaining)
		select {
		case r := <-c.res:
			t.Stop()
			if r.err == nil {
				slog.Info("capture: source reopened", "source", s.info.Name, "attempt", attempt)
				s.conn, s.misses = c, 0
				return nil
			}
			c.close()
		case <-t.C:
			c.close()
			return s.giveUp()
		case <-ctx.Done():
			t.Stop()
			c.close()
			return ctx.Err()
		}
		// Wait a little before the next attempt.
		wait := time.NewTimer(min(500*time.Millisecond, max(0, time.Until(deadline))))
		select {
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
			return ctx.Err()
		}
	}
}

func (s *liveSource) giveUp() error {
	g := s.addGap(s.mediaMS(time.Now()), false)
	s.failed = fmt.Errorf("%w: %s delivered no frame from media time %.1f s to %.1f s (%s) and was not back within %v; %d frames were read before",
		ErrSourceLost, s.info.Name, g.FromMS/1000, g.ToMS/1000, g.Reason, s.o.reconnect, s.index)
	slog.Error("capture: source lost", "source", s.info.Name, "from_ms", g.FromMS, "to_ms", g.ToMS, "reason", g.Reason)
	return s.failed
}

// read asks the connection for a frame and waits up to the read deadline.
func (s *liveSource) read(ctx context.Context) (gocv.Mat, bool, error) {
	t := time.NewTimer(s.o.readTimeout)
	defer t.Stop()
	select {
	case s.conn.req <- struct{}{}:
	case <-t.C:
		return gocv.Mat{}, false, errStall
	case <-ctx.Done():
		return gocv.Mat{}, false, ctx.Err()
	}
	select {
	case r := <-s.conn.res:
		return r.m, r.ok, nil
	case <-t.C:
		return gocv.Mat{}, false, errStall
	case <-ctx.Done():
		return gocv.Mat{}, false, ctx.Err()
	}
}

var errStall = errors.New("stalled")

func (s *liveSource) Next(ctx context.Context) (Frame, error) {
	for {
		if s.failed != nil {
			return Frame{}, s.failed
		}
		if err := ctx.Err(); err != nil {
			return Frame{}, err
		}
		if s.conn == nil {
			if err := s.reconnect(ctx); err != nil {
				return Frame{}, err
			}
		}
		m, ok, err := s.read(ctx)
		wall := time.Now()
		if errors.Is(err, errStall) {
			s.lose(fmt.Sprintf("no frame for %v", s.o.readTimeout))
			continue
		}
		if err != nil {
			return Frame{}, err
		}
		if !ok || m.Empty() {
			m.Close()
			if ok {
				s.misses++
				if s.misses < maxEmptyReads {
					continue // live sources may deliver an empty frame now and then
				}
				s.lose(fmt.Sprintf("%d empty frames in a row", s.misses))
				continue
			}
			// A stream of known length (a file served over HTTP) may end.
			if fc := s.info.FrameCount; s.info.Kind == KindStream && fc > 0 && s.lostAt.IsZero() && float64(s.index) >= 0.95*float64(fc) {
				return Frame{}, io.EOF
			}
			what := "the stream ended or its connection broke"
			if s.info.Kind == KindCamera {
				what = "the camera stopped answering"
			}
			s.lose(what)
			continue
		}
		s.misses = 0
		tms := s.mediaMS(wall)
		if !s.lostAt.IsZero() {
			g := s.addGap(tms, true)
			slog.Warn("capture: source back after a gap", "source", s.info.Name, "from_ms", g.FromMS, "to_ms", g.ToMS,
				"lost_frames", g.LostFrames, "reason", g.Reason)
			s.lostAt = time.Time{}
		}
		idx := s.index
		s.index++
		s.lastMS = tms
		if !s.samp.keep(idx, tms) {
			m.Close()
			continue
		}
		return Frame{Index: idx, TimeMS: tms, Wall: wall, Image: m}, nil
	}
}
