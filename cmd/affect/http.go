package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/affectlab/affect/dashboard"
	"github.com/nats-io/nats.go"
)

// httpFlags registers --http and --http-token.
func httpFlags(fs *flag.FlagSet) (addr, token *string) {
	addr = fs.String("http", dashboard.DefaultAddr, "dashboard and /metrics address ('off' to disable)")
	token = fs.String("http-token", "", "dashboard token, required off loopback (or $AFFECT_HTTP_TOKEN)")
	return addr, token
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// startDashboard serves the dashboard on addr until ctx ends. An address
// that cannot be bound is an error, also the default one (another affect
// may serve it): the job does not run on with a dashboard nobody can see.
func startDashboard(ctx context.Context, nc *nats.Conn, addr, token string, explicit bool, session string, stdout io.Writer) (stop func(), err error) {
	if addr == "off" || addr == "" {
		return func() {}, nil
	}
	if token == "" {
		token = os.Getenv("AFFECT_HTTP_TOKEN")
	}
	dash, err := dashboard.New(nc, dashboard.WithAddr(addr), dashboard.WithToken(token))
	if err != nil {
		if errors.Is(err, dashboard.ErrTokenRequired) {
			return nil, usageError("--http %s: %v (give --http-token or $AFFECT_HTTP_TOKEN)", addr, err)
		}
		return nil, usageError("--http: %v", err)
	}
	url, err := dash.Start(ctx)
	if err != nil {
		if !explicit {
			return nil, fmt.Errorf("dashboard: cannot serve on the default address %s: %w (another affect may serve it there: open that one, or give --http ADDR for another address, or --http off)", addr, err)
		}
		return nil, fmt.Errorf("dashboard: %w (choose another --http address, or --http off)", err)
	}
	fmt.Fprintf(stdout, "dashboard: %s/session/%s\n", strings.TrimRight(url, "/"), session)
	return func() { dash.Close() }, nil
}
