package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/live"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/broker"
	"github.com/affectlab/affect/record"
)

func init() {
	register(command{
		name:    "mark",
		summary: "publish a stimulus marker (or a CSV of markers) into a live session",
		run:     runMark,
	})
}

// natsFlags are the flags that choose and authenticate a NATS server; shared
// by session, mark and aggregate.
type natsFlags struct {
	url            string
	user, password string
	token, creds   string
	ca, cert, key  string
	inbox          string
}

func (nf *natsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&nf.url, "nats", "", "NATS server URL(s), comma-separated (default: the embedded broker of a running 'affect session', "+broker.DefaultURL+")")
	fs.StringVar(&nf.user, "nats-user", "", "NATS user name (password from --nats-password or $AFFECT_NATS_PASSWORD)")
	fs.StringVar(&nf.password, "nats-password", "", "NATS password")
	fs.StringVar(&nf.token, "nats-token", "", "NATS token (or $AFFECT_NATS_TOKEN)")
	fs.StringVar(&nf.creds, "nats-creds", "", "NATS credentials file (user JWT and nkey seed)")
	fs.StringVar(&nf.ca, "nats-ca", "", "TLS: CA certificate file to verify the server")
	fs.StringVar(&nf.cert, "nats-cert", "", "TLS: client certificate file (with --nats-key)")
	fs.StringVar(&nf.key, "nats-key", "", "TLS: client key file (with --nats-cert)")
	fs.StringVar(&nf.inbox, "nats-inbox", "", "prefix of this client's reply subjects (default _INBOX_<user> with --nats-user, else _INBOX); a server with per-user permissions lets each user subscribe only to its own (deploy/nats-server.conf)")
}

// options turns the flags into broker.Connect options.
func (nf *natsFlags) options(name string) []broker.Option {
	opts := []broker.Option{broker.WithName(name)}
	pw := nf.password
	if pw == "" {
		pw = os.Getenv("AFFECT_NATS_PASSWORD")
	}
	tok := nf.token
	if tok == "" {
		tok = os.Getenv("AFFECT_NATS_TOKEN")
	}
	if nf.user != "" {
		opts = append(opts, broker.WithUserPassword(nf.user, pw))
	}
	if tok != "" {
		opts = append(opts, broker.WithToken(tok))
	}
	if nf.creds != "" {
		opts = append(opts, broker.WithCredsFile(nf.creds))
	}
	if nf.ca != "" || nf.cert != "" || nf.key != "" {
		opts = append(opts, broker.WithTLS(nf.ca, nf.cert, nf.key))
	}
	inbox := nf.inbox
	if inbox == "" && nf.user != "" && pipeline.ValidateSession(nf.user) == nil {
		inbox = "_INBOX_" + nf.user
	}
	if inbox != "" {
		opts = append(opts, broker.WithNATSOptions(nats.CustomInboxPrefix(inbox)))
	}
	return opts
}

// brokerConfig is the live.BrokerConfig of --nats (or of the default URL of
// a running session's embedded broker).
func (nf *natsFlags) brokerConfig(name string) live.BrokerConfig {
	return live.BrokerConfig{URL: nf.url, DefaultURL: nf.url == "", Name: name, Options: nf.options(name)[1:]}
}

// connect connects to --nats, or to the default URL of a running session's
// embedded broker, and returns the connection and its JetStream context.

func (nf *natsFlags) connect(name string) (*nats.Conn, jetstream.JetStream, error) {
	url := nf.url
	if url == "" {
		url = broker.DefaultURL
	}
	nc, err := broker.Connect(url, nf.options(name)...)
	if err != nil {
		if nf.url == "" && errors.Is(err, broker.ErrUnreachable) {
			return nil, nil, fmt.Errorf("%w: no 'affect session' is running on this machine (nothing answers at %s); start 'affect session' first, or give --nats URL for another server",
				broker.ErrUnreachable, url)
		}
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

func runMark(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("mark", stderr, "--session S LABEL [--condition C] [--at-ms MS]\n       affect mark --session S --markers FILE.csv\n\n"+
		"Publishes a stimulus marker into session S. Without --at-ms the onset is now,\n"+
		"in the session's media time. --markers imports a CSV (onset_ms,label,condition).")
	var nf natsFlags
	nf.register(fs)
	session := fs.String("session", "", "session name (required)")
	condition := fs.String("condition", "", "experimental condition of the stimulus")
	atMS := fs.String("at-ms", "", "onset in media milliseconds (default: now)")
	markersCSV := fs.String("markers", "", "CSV file of markers to import (onset_ms,label,condition)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := pipeline.ValidateSession(*session); err != nil {
		return usageError("--session: %v", err)
	}
	var markers []record.Marker
	switch {
	case *markersCSV != "":
		if len(pos) > 0 || *atMS != "" || *condition != "" {
			return usageError("--markers FILE replaces LABEL, --at-ms and --condition")
		}
		var err error
		if markers, err = readMarkers(*markersCSV); err != nil {
			return err
		}
		if len(markers) == 0 {
			return fmt.Errorf("%s has no markers", *markersCSV)
		}
	case len(pos) == 1:
		markers = []record.Marker{{Label: pos[0], Condition: *condition}}
	case len(pos) == 0:
		return usageError("no LABEL given")
	default:
		return usageError("one LABEL at a time (got %d); quote labels with spaces", len(pos))
	}
	var at float64
	if *atMS != "" {
		at, err = strconv.ParseFloat(*atMS, 64)
		if err != nil || math.IsNaN(at) || math.IsInf(at, 0) {
			return usageError("--at-ms %q is not a number of milliseconds", *atMS)
		}
	}

	nc, js, err := nf.connect("affect mark")
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start, err := pipeline.FindSessionStart(ctx, js, *session)
	if err != nil {
		return err
	}
	if *markersCSV == "" {
		if *atMS != "" {
			markers[0].OnsetMS = at
		} else {
			markers[0].OnsetMS = float64(time.Now().UnixNano()-start.StartedUnixNano) / 1e6
		}
	}
	if ended, err := sessionEnded(ctx, js, *session); err != nil {
		return err
	} else if ended {
		slog.Warn("the session has already ended: an 'affect aggregate' that finished will not see this marker; use 'affect score VIDEO --markers FILE.csv' to analyse a recording offline", "session", *session)
	}
	for _, m := range markers {
		if err := m.Validate(); err != nil {
			return usageError("%v", err)
		}
		if err := pipeline.PublishEvent(ctx, js, pipeline.NewMarkerEvent(*session, m)); err != nil {
			return err
		}
		cond := ""
		if m.Condition != "" {
			cond = " (" + m.Condition + ")"
		}
		fmt.Fprintf(stdout, "marker %q%s at %.1f ms -> session %s\n", m.Label, cond, m.OnsetMS, *session)
	}
	return nil
}

// sessionEnded reports whether the session's last event is its session_end.
func sessionEnded(ctx context.Context, js jetstream.JetStream, session string) (bool, error) {
	st, err := js.Stream(ctx, pipeline.StreamName)
	if err != nil {
		return false, fmt.Errorf("look up stream %s: %w", pipeline.StreamName, err)
	}
	m, err := st.GetLastMsgForSubject(ctx, pipeline.EventsSubject(session))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up session %q: %w", session, err)
	}
	ev, err := pipeline.DecodeEvent(m.Data)
	return err == nil && ev.Type == pipeline.EventSessionEnd, nil
}
