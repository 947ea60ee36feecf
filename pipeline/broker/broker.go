// Package broker starts affect's embedded NATS server (nats-server/v2 with
// JetStream on disk) and connects to NATS servers, embedded or external.
//
// With no --nats URL, `affect session` starts the embedded server on
// DefaultHost:DefaultPort, so that `affect mark`, `affect aggregate` and the
// dashboard, run in other terminals, reach it at DefaultURL.
//
// The JetStream store lives in Config.DataDir, by default DefaultDataDir():
// $AFFECT_DATA_DIR if set, else $XDG_DATA_HOME/affect/nats, else
// ~/.local/share/affect/nats. One process at a time may use a data directory:
// Start takes an exclusive lock on DATA_DIR/affect.lock.
package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Defaults of the embedded broker.
const (
	DefaultHost = "127.0.0.1"
	DefaultPort = 4222
	// DefaultURL is where mark/aggregate/dashboard look for a running session's broker.
	DefaultURL = "nats://127.0.0.1:4222"
	// RandomPort makes the server pick a free port (tests).
	RandomPort = server.RANDOM_PORT
)

// Errors of Start.
var (
	// ErrPortInUse: something already listens on the broker's address.
	ErrPortInUse = errors.New("broker address already in use")
	// ErrDataDirInUse: another affect process holds the data directory.
	ErrDataDirInUse = errors.New("data directory in use")
	// ErrNotReady: the server did not become ready in time.
	ErrNotReady = errors.New("embedded NATS server did not start")
)

// DefaultDataDir returns the default data directory (see package documentation).
func DefaultDataDir() (string, error) {
	if d := os.Getenv("AFFECT_DATA_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "affect", "nats"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no default data directory (%v); give one with --data-dir", err)
	}
	return filepath.Join(home, ".local", "share", "affect", "nats"), nil
}

// Config configures the embedded server.
type Config struct {
	// DataDir holds the JetStream file store. Empty means DefaultDataDir().
	DataDir string
	// Host to listen on. Empty means DefaultHost (loopback only).
	Host string
	// Port to listen on. 0 means DefaultPort; RandomPort (-1) picks a free one.
	Port int
	// User and Password, when User is set, are required from clients.
	User, Password string
	// Token, when set, is required from clients (exclusive with User).
	Token string
	// ReadyTimeout bounds the wait for the server to accept connections. 0 means 10s.
	ReadyTimeout time.Duration
	// Logger receives the server's log (notices at Debug level). nil means slog.Default().
	Logger *slog.Logger
}

// Server is a running embedded NATS server.
type Server struct {
	ns      *server.Server
	dataDir string
	unlock  func()
}

// Start starts an embedded NATS server with JetStream and waits until it
// accepts connections.
func Start(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		d, err := DefaultDataDir()
		if err != nil {
			return nil, err
		}
		cfg.DataDir = d
	}
	if cfg.Host == "" {
		cfg.Host = DefaultHost
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Port < RandomPort || cfg.Port > 65535 {
		return nil, fmt.Errorf("embedded NATS: port %d is not a valid TCP port", cfg.Port)
	}
	if cfg.User != "" && cfg.Token != "" {
		return nil, errors.New("embedded NATS: set either a user/password or a token, not both")
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded NATS: cannot create data directory: %w", err)
	}
	unlock, err := lockDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if cfg.Port != RandomPort {
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			unlock()
			return nil, fmt.Errorf("%w: cannot listen on %s (%v): is another affect session or NATS server running? Use its URL with --nats, or choose another --port", ErrPortInUse, addr, err)
		}
		l.Close()
	}
	opts := &server.Options{
		ServerName:    "affect-embedded",
		Host:          cfg.Host,
		Port:          cfg.Port,
		JetStream:     true,
		StoreDir:      cfg.DataDir,
		NoSigs:        true,
		Username:      cfg.User,
		Password:      cfg.Password,
		Authorization: cfg.Token,
		// A dead client is noticed within ~10s.
		PingInterval: 5 * time.Second,
		MaxPingsOut:  2,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	ns.SetLoggerV2(&slogLogger{cfg.Logger}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(cfg.ReadyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		unlock()
		return nil, fmt.Errorf("%w within %v on %s:%d (data dir %s); see the log above", ErrNotReady, cfg.ReadyTimeout, cfg.Host, cfg.Port, cfg.DataDir)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		unlock()
		return nil, fmt.Errorf("%w: JetStream is not enabled (data dir %s)", ErrNotReady, cfg.DataDir)
	}
	return &Server{ns: ns, dataDir: cfg.DataDir, unlock: unlock}, nil
}

// ClientURL is the URL clients connect to, e.g. nats://127.0.0.1:4222.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// DataDir is the directory of the JetStream store.
func (s *Server) DataDir() string { return s.dataDir }

// Port is the port the server listens on.
func (s *Server) Port() int {
	if a, ok := s.ns.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Shutdown stops the server, flushing the store, and releases the data
// directory. It is safe to call more than once.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
}

// slogLogger adapts slog to nats-server's Logger.
type slogLogger struct{ l *slog.Logger }

func (s *slogLogger) Noticef(format string, v ...any) {
	s.l.Debug("nats: " + fmt.Sprintf(format, v...))
}
func (s *slogLogger) Warnf(format string, v ...any) { s.l.Warn("nats: " + fmt.Sprintf(format, v...)) }
func (s *slogLogger) Fatalf(format string, v ...any) {
	s.l.Error("nats (fatal): " + fmt.Sprintf(format, v...))
}
func (s *slogLogger) Errorf(format string, v ...any) { s.l.Error("nats: " + fmt.Sprintf(format, v...)) }
func (s *slogLogger) Debugf(format string, v ...any) { s.l.Debug("nats: " + fmt.Sprintf(format, v...)) }
func (s *slogLogger) Tracef(format string, v ...any) { s.l.Debug("nats: " + fmt.Sprintf(format, v...)) }
