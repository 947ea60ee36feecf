// Package dashboard serves affect's live web dashboard and its Prometheus
// /metrics endpoint.
//
// # Wiring it into a command
//
// `affect session` and `affect aggregate` start it with their --http ADDR flag:
//
//	srv, err := dashboard.New(nc, dashboard.WithAddr(addr), dashboard.WithToken(os.Getenv("AFFECT_HTTP_TOKEN")))
//	if err != nil {
//		return err // bad address, or a non-loopback address without a token
//	}
//	url, err := srv.Start(ctx) // binds now (port in use: error now), serves until ctx ends
//	if err != nil {
//		return err
//	}
//	slog.Info("dashboard", "url", url)
//
// (WithToken("") means no token, allowed only on a loopback address.)
// Run(ctx) does the same and blocks until ctx ends. The server does not close nc.
//
// # What it shows
//
// The dashboard subscribes to every session's subjects (pipeline.SubjectAll):
// affect.<session>.frames, .events and .summary. A session's frames and
// events are read from the JetStream stream pipeline.StreamName with an
// ordered consumer when the server has it (so a page opened late, or on a
// finished session, shows the whole session in order, without duplicates);
// on a server without JetStream they come from the core subscription. The
// latest aggregate summary (published about every second by `affect
// aggregate` / `affect session`) comes from the core subscription, and from
// the stream pipeline.SummaryStreamName when a session is opened.
//
// Pages:
//
//	/                          sessions: live, ended and stored in the stream
//	/session/NAME              one session: live happiness timeline (whole session and
//	                           the last minute), current value and whether a face is seen,
//	                           rolling and overall statistics, epochs and conditions
//	/api/sessions              the session list (JSON)
//	/api/sessions/NAME         a session's full state (JSON, the first SSE update)
//	/api/sessions/NAME/stream  server-sent events: one "update" event per change, at most
//	                           every WithUpdateInterval, each carrying only what changed
//	/metrics                   Prometheus metrics (package metrics)
//	/healthz                   "ok"
//
// # Bounded data
//
// A session holds a fixed amount of memory however long it runs: the whole
// session is a pyramid of at most WithMaxPoints min/mean/max bins (pairs
// merge and the bin width doubles when the session outgrows them), the
// recent window is a ring of 100 ms bins, markers are capped, and only the
// latest summary is kept. A page receives the full state once (tens of
// kilobytes) and then only the bins that changed.
//
// # Security
//
// The default address is 127.0.0.1:8080. On any other address a token is
// required (New fails with ErrTokenRequired). With a token, every request
// needs it: `Authorization: Bearer TOKEN`, or open the page once as
// http://HOST:PORT/?token=TOKEN, which sets a cookie. Assets are embedded (no
// CDN, no external font); responses carry a strict Content-Security-Policy.
// Only scores travel: no image data ever reaches the dashboard.
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/metrics"
	"github.com/affectlab/affect/pipeline"
)

// DefaultAddr is the address the dashboard listens on by default (loopback only).
const DefaultAddr = "127.0.0.1:8080"

// Errors of New and its options.
var (
	// ErrTokenRequired: the address is reachable from other machines and no token was given.
	ErrTokenRequired = errors.New("dashboard: a token is required on a non-loopback address")
	// ErrOption: an option's value is invalid.
	ErrOption = errors.New("dashboard: invalid option")
)

//go:embed static
var staticFS embed.FS

type options struct {
	addr           string
	token          string
	log            *slog.Logger
	metrics        *metrics.Metrics
	maxPoints      int
	baseBinMS      float64
	recentWindow   time.Duration
	recentBinMS    float64
	maxSessions    int
	maxMarkers     int
	updateInterval time.Duration
	listInterval   time.Duration
}

// Option configures New. Options validate their input; an invalid one makes
// New fail with an error wrapping ErrOption.
type Option func(*options) error

// WithAddr sets the listen address HOST:PORT (default DefaultAddr). Port 0
// picks a free port (Start returns the URL). A host other than a loopback
// address (127.0.0.1, ::1, localhost), including an empty host (all
// interfaces), requires WithToken.
func WithAddr(addr string) Option {
	return func(o *options) error {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("%w: address %q: %v (use HOST:PORT, e.g. 127.0.0.1:8080)", ErrOption, addr, err)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("%w: address %q: port %q is not a number from 0 to 65535", ErrOption, addr, port)
		}
		if strings.ContainsAny(host, " /") {
			return fmt.Errorf("%w: address %q: bad host %q", ErrOption, addr, host)
		}
		o.addr = addr
		return nil
	}
}

// WithToken requires every request to carry token (see the package
// documentation). An empty token means none. A token must be at least 16
// characters without white space.
func WithToken(token string) Option {
	return func(o *options) error {
		if token == "" {
			o.token = ""
			return nil
		}
		if len(token) < 16 {
			return fmt.Errorf("%w: the dashboard token is %d characters; use at least 16 (e.g. `openssl rand -hex 16`)", ErrOption, len(token))
		}
		if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("%w: the dashboard token contains white space or control characters", ErrOption)
		}
		o.token = token
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrOption)
		}
		o.log = l
		return nil
	}
}

// WithMetrics sets the metrics the dashboard updates and serves at /metrics
// (default metrics.Default).
func WithMetrics(m *metrics.Metrics) Option {
	return func(o *options) error {
		if m == nil {
			return fmt.Errorf("%w: nil metrics", ErrOption)
		}
		o.metrics = m
		return nil
	}
}

// WithMaxPoints bounds the bins of a session's whole-session timeline
// (64 to 16384, default 1024): a page shows between half of it and all of it.
func WithMaxPoints(n int) Option {
	return func(o *options) error {
		if n < 64 || n > 16384 {
			return fmt.Errorf("%w: max points %d is not in [64, 16384]", ErrOption, n)
		}
		o.maxPoints = n
		return nil
	}
}

// WithRecentWindow sets the length of the detailed recent timeline, in
// 100 ms bins (10 s to 10 min, default 60 s).
func WithRecentWindow(d time.Duration) Option {
	return func(o *options) error {
		if d < 10*time.Second || d > 10*time.Minute {
			return fmt.Errorf("%w: recent window %v is not in [10s, 10m]", ErrOption, d)
		}
		o.recentWindow = d
		return nil
	}
}

// WithMaxSessions bounds the sessions held in memory (1 to 1000, default
// 32). When a new one is opened, the least recently active session that no
// page shows is dropped (it is read back from the stream when opened again).
func WithMaxSessions(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1000 {
			return fmt.Errorf("%w: max sessions %d is not in [1, 1000]", ErrOption, n)
		}
		o.maxSessions = n
		return nil
	}
}

// WithUpdateInterval sets the shortest time between two updates sent to a
// page (50 ms to 10 s, default 250 ms).
func WithUpdateInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < 50*time.Millisecond || d > 10*time.Second {
			return fmt.Errorf("%w: update interval %v is not in [50ms, 10s]", ErrOption, d)
		}
		o.updateInterval = d
		return nil
	}
}

// Server is the dashboard. Create it with New.
type Server struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	o   options
	log *slog.Logger
	m   *metrics.Metrics
	h   http.Handler

	mu        sync.Mutex
	sessions  map[string]*session
	consumers map[string]jetstream.ConsumeContext
	stored    map[string]uint64 // sessions in the stream → message count
	hasStream bool
	subs      []*nats.Subscription
	httpSrv   *http.Server

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// New returns a dashboard reading from nc; it subscribes at once (before
// Start), so no message published after New returns is missed.
func New(nc *nats.Conn, opts ...Option) (*Server, error) {
	if nc == nil {
		return nil, errors.New("dashboard: nil NATS connection")
	}
	o := options{
		addr: DefaultAddr, log: slog.Default(), metrics: metrics.Default,
		maxPoints: 1024, baseBinMS: 100, recentWindow: time.Minute, recentBinMS: 100,
		maxSessions: 32, maxMarkers: 10000, updateInterval: 250 * time.Millisecond, listInterval: 3 * time.Second,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	host, _, _ := net.SplitHostPort(o.addr)
	if !isLoopback(host) && o.token == "" {
		where := host
		if where == "" {
			where = "all interfaces"
		}
		return nil, fmt.Errorf("%w: %s listens on %s, reachable from other machines; set a token of at least 16 characters (e.g. AFFECT_HTTP_TOKEN=$(openssl rand -hex 16)) or listen on 127.0.0.1",
			ErrTokenRequired, o.addr, where)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	s := &Server{
		nc: nc, js: js, o: o, log: o.log, m: o.metrics,
		sessions: map[string]*session{}, consumers: map[string]jetstream.ConsumeContext{}, stored: map[string]uint64{},
		done: make(chan struct{}),
	}
	s.h = s.routes()
	for subj, fn := range map[string]nats.MsgHandler{
		pipeline.SubjectPrefix + ".*.frames":  s.onCoreFrame,
		pipeline.SubjectPrefix + ".*.events":  s.onCoreEvent,
		pipeline.SubjectPrefix + ".*.summary": s.onSummary,
	} {
		sub, err := nc.Subscribe(subj, fn)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("dashboard: subscribing to %s: %w", subj, err)
		}
		// Frames come fast; never let the library drop them for a slow handler.
		if err := sub.SetPendingLimits(-1, 512<<20); err != nil {
			s.Close()
			return nil, fmt.Errorf("dashboard: %w", err)
		}
		s.subs = append(s.subs, sub)
	}
	if err := nc.Flush(); err != nil {
		s.Close()
		return nil, fmt.Errorf("dashboard: subscribing: %w", err)
	}
	s.refreshStored()
	s.wg.Add(1)
	go s.listLoop()
	return s, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler returns the dashboard's HTTP handler (pages, API, /metrics), with
// authentication when a token is set.
func (s *Server) Handler() http.Handler { return s.h }

// Start listens on the configured address and serves in the background
// until ctx ends or Close is called. It returns the dashboard's URL.
func (s *Server) Start(ctx context.Context) (string, error) {
	l, err := net.Listen("tcp", s.o.addr)
	if err != nil {
		return "", fmt.Errorf("dashboard: cannot listen on %s: %w (is another dashboard running? choose another address with --http)", s.o.addr, err)
	}
	srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.mu.Lock()
	s.httpSrv = srv
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("dashboard stopped", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return "http://" + l.Addr().String() + "/", nil
}

// Run is Start, then waits until ctx ends; it returns nil after a clean stop.
func (s *Server) Run(ctx context.Context) error {
	url, err := s.Start(ctx)
	if err != nil {
		return err
	}
	s.log.Info("dashboard serving", "url", url)
	<-s.done
	return nil
}

// Close stops serving and unsubscribes. It does not close the NATS connection.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.mu.Lock()
		for _, sub := range s.subs {
			sub.Unsubscribe()
		}
		for name, cc := range s.consumers {
			cc.Stop()
			delete(s.consumers, name)
		}
		srv := s.httpSrv
		s.mu.Unlock()
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			srv.Shutdown(ctx)
			cancel()
		}
		s.wg.Wait()
	})
	return nil
}

// SessionMemory returns an estimate of the bytes the dashboard holds for a
// loaded session (bins, recent window, de-duplication window, markers and
// the latest summary), and false when the session is not loaded. It is
// bounded by the options, whatever the session's length.
func (s *Server) SessionMemory(name string) (int, bool) {
	s.mu.Lock()
	sess := s.sessions[name]
	s.mu.Unlock()
	if sess == nil {
		return 0, false
	}
	return sess.memBytes(), true
}
