package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Errors of Connect.
var (
	// ErrUnreachable: no NATS server answers at the URL.
	ErrUnreachable = errors.New("cannot reach NATS")
	// ErrAuth: the server refused the credentials.
	ErrAuth = errors.New("NATS refused the credentials")
	// ErrTLS: the TLS handshake failed (unknown CA, bad client certificate).
	ErrTLS = errors.New("NATS TLS handshake failed")
	// ErrOption: a connect option is invalid (bad file, conflicting options).
	ErrOption = errors.New("invalid NATS option")
)

// Option configures Connect. Options validate their input and return an
// error wrapping ErrOption.
type Option func(*connectOpts) error

type connectOpts struct {
	name           string
	user, password string
	token          string
	creds          string
	ca, cert, key  string
	timeout        time.Duration
	logger         *slog.Logger
	extra          []nats.Option
}

// WithName sets the client name shown by the server.
func WithName(name string) Option {
	return func(o *connectOpts) error { o.name = name; return nil }
}

// WithUserPassword authenticates with a user and password.
func WithUserPassword(user, password string) Option {
	return func(o *connectOpts) error {
		if user == "" {
			return fmt.Errorf("%w: the user name is empty", ErrOption)
		}
		o.user, o.password = user, password
		return nil
	}
}

// WithToken authenticates with a token.
func WithToken(token string) Option {
	return func(o *connectOpts) error {
		if token == "" {
			return fmt.Errorf("%w: the token is empty", ErrOption)
		}
		o.token = token
		return nil
	}
}

// WithCredsFile authenticates with a NATS credentials file (user JWT and nkey seed).
func WithCredsFile(path string) Option {
	return func(o *connectOpts) error {
		if err := readable(path, "credentials file"); err != nil {
			return err
		}
		o.creds = path
		return nil
	}
}

// WithTLS enables TLS. caFile (may be empty: system roots) verifies the
// server; certFile and keyFile (both or neither) are the client certificate.
func WithTLS(caFile, certFile, keyFile string) Option {
	return func(o *connectOpts) error {
		if (certFile == "") != (keyFile == "") {
			return fmt.Errorf("%w: a TLS client certificate needs both a certificate and a key file", ErrOption)
		}
		for _, f := range []struct{ path, what string }{{caFile, "TLS CA file"}, {certFile, "TLS certificate file"}, {keyFile, "TLS key file"}} {
			if f.path != "" {
				if err := readable(f.path, f.what); err != nil {
					return err
				}
			}
		}
		o.ca, o.cert, o.key = caFile, certFile, keyFile
		return nil
	}
}

// WithTimeout bounds the initial connection attempt (default 5s).
func WithTimeout(d time.Duration) Option {
	return func(o *connectOpts) error {
		if d <= 0 {
			return fmt.Errorf("%w: connect timeout %v must be > 0", ErrOption, d)
		}
		o.timeout = d
		return nil
	}
}

// WithLogger receives connection events (disconnects, reconnects).
func WithLogger(l *slog.Logger) Option {
	return func(o *connectOpts) error { o.logger = l; return nil }
}

// WithNATSOptions passes further nats.go options (applied last).
func WithNATSOptions(opts ...nats.Option) Option {
	return func(o *connectOpts) error { o.extra = append(o.extra, opts...); return nil }
}

func readable(path, what string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrOption, what, err)
	}
	f.Close()
	return nil
}

// Connect connects to the NATS server(s) at serverURL (comma-separated for a
// cluster). The connection reconnects forever after a loss; the first
// connection must succeed. Errors wrap ErrUnreachable, ErrAuth or ErrOption
// and say what to do.
func Connect(serverURL string, opts ...Option) (*nats.Conn, error) {
	o := connectOpts{name: "affect", timeout: 5 * time.Second, logger: slog.Default()}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if serverURL == "" {
		return nil, fmt.Errorf("%w: empty NATS URL", ErrOption)
	}
	urls := strings.Split(serverURL, ",")
	for i, u := range urls {
		u = strings.TrimSpace(u)
		if !strings.Contains(u, "://") {
			u = "nats://" + u // host:port
		}
		urls[i] = u
		pu, err := url.Parse(u)
		if err != nil || pu.Host == "" {
			return nil, fmt.Errorf("%w: %q is not a NATS URL like nats://host:4222", ErrOption, u)
		}
		switch pu.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return nil, fmt.Errorf("%w: %q: unsupported scheme %q (use nats://, tls://, ws:// or wss://)", ErrOption, u, pu.Scheme)
		}
	}
	n := 0
	for _, set := range []bool{o.user != "", o.token != "", o.creds != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, fmt.Errorf("%w: give only one of user/password, token and credentials file", ErrOption)
	}
	log := o.logger
	nopts := []nats.Option{
		nats.Name(o.name),
		nats.Timeout(o.timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Warn("NATS error", "err", err) }),
	}
	if o.user != "" {
		nopts = append(nopts, nats.UserInfo(o.user, o.password))
	}
	if o.token != "" {
		nopts = append(nopts, nats.Token(o.token))
	}
	if o.creds != "" {
		nopts = append(nopts, nats.UserCredentials(o.creds))
	}
	if o.ca != "" {
		nopts = append(nopts, nats.RootCAs(o.ca))
	}
	if o.cert != "" {
		nopts = append(nopts, nats.ClientCert(o.cert, o.key))
	}
	nopts = append(nopts, o.extra...)
	serverURL = strings.Join(urls, ",")
	nc, err := nats.Connect(serverURL, nopts...)
	if err != nil {
		redacted := redact(serverURL)
		switch {
		case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked),
			strings.Contains(strings.ToLower(err.Error()), "authorization"):
			return nil, fmt.Errorf("%w at %s: %v: check --nats-user/--nats-password, --nats-token or --nats-creds", ErrAuth, redacted, err)
		case strings.Contains(err.Error(), "tls") || strings.Contains(err.Error(), "x509") || errors.Is(err, nats.ErrSecureConnRequired) || errors.Is(err, nats.ErrSecureConnWanted):
			return nil, fmt.Errorf("%w at %s: %v: check --nats-ca (the CA that signed the server's certificate), --nats-cert/--nats-key, and the URL scheme (tls://)", ErrTLS, redacted, err)
		case errors.Is(err, nats.ErrNoServers), isNetErr(err):
			return nil, fmt.Errorf("%w at %s: %v: is the server running? Use --nats URL for another server, or omit --nats to use the broker of a running 'affect session'", ErrUnreachable, redacted, err)
		default:
			return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, redacted, err)
		}
	}
	return nc, nil
}

func isNetErr(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "no such host") || strings.Contains(s, "i/o timeout")
}

// redact removes a password from a URL for messages.
func redact(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
