package broker

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func TestStartAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := start(t, Config{DataDir: dir, Port: RandomPort})
	if s.Port() <= 0 || !strings.HasPrefix(s.ClientURL(), "nats://127.0.0.1:") || s.DataDir() != dir {
		t.Fatalf("port %d url %s dir %s", s.Port(), s.ClientURL(), s.DataDir())
	}
	nc, err := Connect(s.ClientURL(), WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	port := s.Port()
	s.Shutdown()
	s.Shutdown() // twice is fine
	// The same data directory and port can be used again.
	s2 := start(t, Config{DataDir: dir, Port: port})
	if s2.Port() != port {
		t.Errorf("restarted on port %d, want %d", s2.Port(), port)
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Errorf("no JetStream store in the data dir: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	s := start(t, Config{DataDir: dir, Port: RandomPort})

	t.Run("data dir in use", func(t *testing.T) {
		_, err := Start(Config{DataDir: dir, Port: RandomPort, Logger: quiet})
		if !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), "--data-dir") {
			t.Fatalf("err = %v, want ErrDataDirInUse", err)
		}
	})
	t.Run("port in use", func(t *testing.T) {
		_, err := Start(Config{DataDir: t.TempDir(), Port: s.Port(), Logger: quiet})
		if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), "--nats") {
			t.Fatalf("err = %v, want ErrPortInUse", err)
		}
		// The failed start released its data directory.
		start(t, Config{DataDir: filepath.Dir(dir) + "/other", Port: RandomPort})
	})
	t.Run("bad port", func(t *testing.T) {
		if _, err := Start(Config{DataDir: t.TempDir(), Port: 70000, Logger: quiet}); err == nil {
			t.Fatal("port 70000 accepted")
		}
	})
	t.Run("user and token", func(t *testing.T) {
		if _, err := Start(Config{DataDir: t.TempDir(), Port: RandomPort, User: "u", Token: "t", Logger: quiet}); err == nil {
			t.Fatal("user and token accepted")
		}
	})
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("AFFECT_DATA_DIR", "/x/y")
	if d, _ := DefaultDataDir(); d != "/x/y" {
		t.Errorf("with AFFECT_DATA_DIR: %s", d)
	}
	t.Setenv("AFFECT_DATA_DIR", "")
	t.Setenv("XDG_DATA_HOME", "/xdg")
	if d, _ := DefaultDataDir(); d != "/xdg/affect/nats" {
		t.Errorf("with XDG_DATA_HOME: %s", d)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, _ := DefaultDataDir(); d != "/home/u/.local/share/affect/nats" {
		t.Errorf("default: %s", d)
	}
}

func TestConnectErrors(t *testing.T) {
	// A port where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "nats://" + l.Addr().String()
	l.Close()

	auth := start(t, Config{DataDir: t.TempDir(), Port: RandomPort, User: "alice", Password: "s3cret"})
	tok := start(t, Config{DataDir: t.TempDir(), Port: RandomPort, Token: "tok123"})
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	os.WriteFile(certFile, []byte("x"), 0o600)

	tests := []struct {
		name    string
		url     string
		opts    []Option
		wantErr error
		msg     string
	}{
		{"unreachable", deadURL, nil, ErrUnreachable, "is the server running?"},
		{"wrong password", auth.ClientURL(), []Option{WithUserPassword("alice", "wrong")}, ErrAuth, "--nats-user"},
		{"no credentials", auth.ClientURL(), nil, ErrAuth, "credentials"},
		{"right password", auth.ClientURL(), []Option{WithUserPassword("alice", "s3cret")}, nil, ""},
		{"wrong token", tok.ClientURL(), []Option{WithToken("nope")}, ErrAuth, "--nats-token"},
		{"right token", tok.ClientURL(), []Option{WithToken("tok123")}, nil, ""},
		{"empty user", auth.ClientURL(), []Option{WithUserPassword("", "x")}, ErrOption, "user name is empty"},
		{"empty token", tok.ClientURL(), []Option{WithToken("")}, ErrOption, "token is empty"},
		{"missing creds file", auth.ClientURL(), []Option{WithCredsFile(filepath.Join(dir, "none.creds"))}, ErrOption, "credentials file"},
		{"cert without key", auth.ClientURL(), []Option{WithTLS("", certFile, "")}, ErrOption, "both a certificate and a key"},
		{"missing CA", auth.ClientURL(), []Option{WithTLS(filepath.Join(dir, "ca.pem"), "", "")}, ErrOption, "TLS CA file"},
		{"two auth methods", auth.ClientURL(), []Option{WithUserPassword("a", "b"), WithToken("t")}, ErrOption, "only one"},
		{"bad scheme", "http://127.0.0.1:4222", nil, ErrOption, "unsupported scheme"},
		{"not a URL", "nats://", nil, ErrOption, "not a NATS URL"},
		{"host:port without scheme", strings.TrimPrefix(tok.ClientURL(), "nats://"), []Option{WithToken("tok123")}, nil, ""},
		{"zero timeout", auth.ClientURL(), []Option{WithTimeout(0)}, ErrOption, "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]Option{WithLogger(quiet), WithTimeout(2 * time.Second)}, tc.opts...)
			nc, err := Connect(tc.url, opts...)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				nc.Close()
				return
			}
			if nc != nil {
				nc.Close()
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.wantErr, tc.msg)
			}
			t.Log(err)
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}
