package dashboard_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/affectlab/affect/dashboard"
	"github.com/affectlab/affect/pipeline/broker"
)

// Wiring the dashboard into a command: serve it on --http ADDR until ctx ends.
func ExampleNew() {
	ctx := context.Background()
	nc, err := broker.Connect(broker.DefaultURL)
	if err != nil {
		slog.Error("no NATS", "err", err)
		return
	}
	defer nc.Close()
	srv, err := dashboard.New(nc, dashboard.WithAddr("127.0.0.1:8080"), dashboard.WithToken(os.Getenv("AFFECT_HTTP_TOKEN")))
	if err != nil {
		slog.Error("dashboard", "err", err) // e.g. a LAN address without a token
		return
	}
	url, err := srv.Start(ctx)
	if err != nil {
		slog.Error("dashboard", "err", err) // e.g. the port is taken
		return
	}
	defer srv.Close()
	slog.Info("dashboard", "url", url)
}
