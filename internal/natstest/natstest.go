// Package natstest starts real embedded NATS servers (JetStream on disk) for
// tests and connects to them with affect's streams in place.
package natstest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Quiet is a logger that discards everything, for servers and clients in tests.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Broker is an embedded server and one connection to it.
type Broker struct {
	Server *broker.Server
	NC     *nats.Conn
	JS     jetstream.JetStream
}

// URL is the server's client URL.
func (b *Broker) URL() string { return b.Server.ClientURL() }

// Close closes the connection and shuts the server down (its store stays in
// its directory). It may be called more than once; the test's cleanup calls it.
func (b *Broker) Close() {
	b.NC.Close()
	b.Server.Shutdown()
}

// Start starts a server with its JetStream store in dir on a free loopback
// port, connects to it and creates affect's streams.
func Start(t testing.TB, dir string) *Broker {
	t.Helper()
	srv, err := broker.Start(broker.Config{DataDir: dir, Port: broker.RandomPort, Logger: Quiet})
	if err != nil {
		t.Fatalf("start embedded NATS: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	nc, js := Connect(t, srv.ClientURL())
	return &Broker{Server: srv, NC: nc, JS: js}
}

// Dial connects to url (one or more comma-separated server URLs) quietly,
// with opts; the test's cleanup closes the connection.
func Dial(t testing.TB, url string, opts ...broker.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := broker.Connect(url, append([]broker.Option{broker.WithLogger(Quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// Connect connects to url and makes sure affect's streams exist; the test's
// cleanup closes the connection.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, js := Dial(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pipeline.EnsureStreams(ctx, js); err != nil {
		t.Fatal(err)
	}
	return nc, js
}
