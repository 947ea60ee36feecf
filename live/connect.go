package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BrokerConfig says which NATS server a live job uses: one of
//   - URL: an external server or cluster (with Options for its authentication);
//   - Embedded: start a broker in this process on Port with its JetStream
//     store in DataDir (default broker.DefaultDataDir), as `affect session` does
//     with no --nats;
//   - StoreOnly: open the store in DataDir (e.g. of a finished or crashed
//     session) with an embedded broker on a free loopback port, as `affect
//     aggregate --data-dir` does.
//
// DefaultURL marks a URL that was not given but defaulted to a running
// session's embedded broker (the error then says so).
type BrokerConfig struct {
	URL        string
	DefaultURL bool
	Embedded   bool
	StoreOnly  bool
	DataDir    string
	Port       int
	// Name is the client's connection name.
	Name    string
	Options []broker.Option
}

// Conn is a connection to the broker with affect's streams in place.
type Conn struct {
	NC  *nats.Conn
	JS  jetstream.JetStream
	srv *broker.Server
}

// Close closes the connection and shuts the embedded broker down, if any.
func (c *Conn) Close() {
	c.NC.Close()
	if c.srv != nil {
		c.srv.Shutdown()
	}
}

// Connect starts the embedded broker when asked, connects and creates or
// updates affect's streams.
func Connect(ctx context.Context, b BrokerConfig) (*Conn, error) {
	c := &Conn{}
	url := b.URL
	switch {
	case b.StoreOnly:
		if _, err := os.Stat(b.DataDir); err != nil {
			return nil, fmt.Errorf("--data-dir: %w", err)
		}
		srv, err := broker.Start(broker.Config{DataDir: b.DataDir, Port: broker.RandomPort})
		if err != nil {
			return nil, err
		}
		c.srv, url = srv, srv.ClientURL()
	case b.Embedded:
		srv, err := broker.Start(broker.Config{DataDir: b.DataDir, Port: b.Port})
		if err != nil {
			return nil, fmt.Errorf("%w (is another 'affect session' running? connect to it with --nats %s, or use --nats-port)", err, broker.DefaultURL)
		}
		c.srv, url = srv, srv.ClientURL()
		slog.Info("embedded NATS broker", "url", url, "data_dir", srv.DataDir())
	case url == "":
		url = broker.DefaultURL
	}
	opts := append([]broker.Option{broker.WithName(b.Name)}, b.Options...)
	nc, err := broker.Connect(url, opts...)
	if err != nil {
		if c.srv != nil {
			c.srv.Shutdown()
		}
		if b.DefaultURL && errors.Is(err, broker.ErrUnreachable) {
			return nil, fmt.Errorf("%w: no 'affect session' is running on this machine (nothing answers at %s); start 'affect session' first, or give --nats URL for another server",
				broker.ErrUnreachable, url)
		}
		return nil, err
	}
	c.NC = nc
	js, err := jetstream.New(nc)
	if err == nil {
		_, err = pipeline.EnsureStreams(ctx, js)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.JS = js
	return c, nil
}
