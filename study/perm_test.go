package study

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/pipeline/broker"
	"github.com/affectlab/affect/record"
)

// client is a connection as one role, with the server's asynchronous
// errors (permission violations) collected.
type client struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	mu   sync.Mutex
	errs []string
}

func (c *client) violations() string {
	c.nc.Flush()
	time.Sleep(100 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.errs, "\n")
}

// Issue 12, point 3: the roles of deploy/nats-server.conf, on a server
// started from that very file with TLS from a test CA. A capture station
// cannot read other sessions, cannot publish a session_end or frames for
// another session and cannot read results; a worker cannot publish markers
// but can do its work; a wrong CA or password fails with a clear error.
func TestPermissionsFromDeployConfig(t *testing.T) {
	clip := testenv.Shared(t, "video/crema_d/1001_DFA_NEU_XX.mp4")
	dir := t.TempDir()
	caFile, cert, key := testenv.TestCA(t, dir, "test-ca", true)
	otherCA, _, _ := testenv.TestCA(t, dir, "other-ca", false)
	pw := map[string]string{"admin": "a-secret", "capture-s07": "c-secret", "marker": "m-secret", "worker": "w-secret",
		"aggregator": "g-secret", "dashboard": "d-secret", "study": "s-secret"}
	for _, kv := range [][2]string{{"AFFECT_NATS_NAME", "affect-test"}, {"AFFECT_NATS_STORE", filepath.Join(dir, "js")},
		{"AFFECT_TLS_CERT", cert}, {"AFFECT_TLS_KEY", key}, {"AFFECT_TLS_CA", caFile},
		{"AFFECT_ADMIN_PASSWORD", pw["admin"]}, {"AFFECT_CAPTURE_PASSWORD", pw["capture-s07"]}, {"AFFECT_MARKER_PASSWORD", pw["marker"]},
		{"AFFECT_WORKER_PASSWORD", pw["worker"]}, {"AFFECT_AGGREGATOR_PASSWORD", pw["aggregator"]},
		{"AFFECT_DASHBOARD_PASSWORD", pw["dashboard"]}, {"AFFECT_STUDY_PASSWORD", pw["study"]}} {
		t.Setenv(kv[0], kv[1])
	}
	opts, err := server.ProcessConfigFile(filepath.Join(testenv.Root(t), "deploy", "nats-server.conf"))
	if err != nil {
		t.Fatalf("deploy/nats-server.conf: %v", err)
	}
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	url := "tls://" + ns.Addr().String()
	connect := func(user, password, ca string) (*client, error) {
		c := &client{}
		nc, err := broker.Connect(url, broker.WithTLS(ca, "", ""), broker.WithUserPassword(user, password), broker.WithLogger(natstest.Quiet),
			broker.WithTimeout(3*time.Second), broker.WithNATSOptions(nats.CustomInboxPrefix("_INBOX_"+user),
				nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
					c.mu.Lock()
					c.errs = append(c.errs, err.Error())
					c.mu.Unlock()
				})))
		if err != nil {
			return nil, err
		}
		t.Cleanup(nc.Close)
		c.nc = nc
		c.js, _ = jetstream.New(nc, jetstream.WithDefaultTimeout(2*time.Second))
		return c, nil
	}
	as := func(user string) *client {
		t.Helper()
		c, err := connect(user, pw[user], caFile)
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		return c
	}

	// TLS and credentials: clear errors.
	if _, err := connect("admin", pw["admin"], otherCA); !errors.Is(err, broker.ErrTLS) || !strings.Contains(err.Error(), "--nats-ca") {
		t.Errorf("wrong CA: %v", err)
	}
	if _, err := connect("worker", "wrong", caFile); !errors.Is(err, broker.ErrAuth) || !strings.Contains(err.Error(), "--nats-password") {
		t.Errorf("wrong password: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := as("admin")
	if _, err := pipeline.EnsureStreams(ctx, admin.js); err != nil {
		t.Fatal(err)
	}
	ares, err := Ensure(ctx, admin.js, Setup{AckWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Another session's data, and a study with a result to protect.
	if err := pipeline.StartSession(ctx, admin.js, "s08", pipeline.SessionStart{Source: "camera 0"}); err != nil {
		t.Fatal(err)
	}
	// The researcher submits (with upload) under the study role.
	sres, err := Ensure(ctx, as("study").js, Setup{})
	if err != nil {
		t.Fatalf("study role: %v", err)
	}
	if _, err := Submit(ctx, sres, "perm", []Row{{Line: 2, Participant: "P1", Session: "v1", Condition: "neu", Source: clip}},
		SubmitOptions{Params: defaultParams(), Upload: true}); err != nil {
		t.Fatalf("study role submit: %v", err)
	}

	// The worker does its job under its role...
	worker := as("worker")
	wres, err := Ensure(ctx, worker.js, Setup{})
	if err != nil {
		t.Fatalf("worker role: %v", err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	wdone := make(chan struct{})
	go func() {
		(&Worker{Res: wres, ID: "w", Logger: natstest.Quiet}).Run(wctx)
		close(wdone)
	}()
	st := waitFor(t, ctx, ares, "perm", func(s *Status) bool { return s.Finished() })
	wcancel()
	<-wdone
	if st.Done != 1 {
		t.Fatalf("worker under its role: %+v\n%s", st.Records[0], worker.violations())
	}
	// ... but cannot publish a marker.
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		t.Cleanup(cancel)
		return c
	}
	err = pipeline.PublishEvent(short(), worker.js, pipeline.NewMarkerEvent("s08", record.Marker{OnsetMS: 1, Label: "x"}))
	if err == nil || !strings.Contains(worker.violations(), `Permissions Violation for Publish to "affect.s08.events"`) {
		t.Errorf("worker published a marker: %v\n%s", err, worker.violations())
	}

	// The capture station of s07 publishes its own session...
	capture := as("capture-s07")
	for _, c := range []*client{capture, as("aggregator"), as("dashboard"), as("marker")} {
		// What affect session, aggregate and the dashboard do first: the
		// streams exist, so it needs no right to create or update them.
		if _, err := pipeline.EnsureStreams(short(), c.js); err != nil {
			t.Errorf("EnsureStreams with restricted rights: %v\n%s", err, c.violations())
		}
	}
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	if err := pipeline.StartSession(cctx, capture.js, "s07", pipeline.SessionStart{Source: "camera 0"}); err != nil {
		t.Fatalf("capture: own session_start: %v\n%s", err, capture.violations())
	}
	frame, _ := json.Marshal(record.FrameScore{Schema: record.SchemaVersion, Session: "s07", Source: "camera 0", CaptureUnixNano: time.Now().UnixNano()})
	if _, err := capture.js.Publish(ctx, pipeline.FramesSubject("s07"), frame); err != nil {
		t.Fatalf("capture: own frames: %v", err)
	}
	// ... and nothing else.
	if _, err := capture.js.Publish(short(), pipeline.FramesSubject("s08"), []byte(`{}`)); err == nil {
		t.Error("capture s07 published frames for s08")
	}
	if err := pipeline.PublishEvent(short(), capture.js, pipeline.NewEndEvent("s08", pipeline.SessionEnd{})); err == nil {
		t.Error("capture s07 published session_end for s08")
	}
	capture.nc.SubscribeSync(pipeline.FramesSubject("s08")) // refused asynchronously (checked below)
	if _, err := capture.js.CreateConsumer(short(), pipeline.StreamName, jetstream.ConsumerConfig{FilterSubject: "affect.s08.>"}); err == nil {
		t.Error("capture s07 made a consumer of s08")
	}
	if st, err := capture.js.Stream(short(), pipeline.StreamName); err == nil {
		if _, err := st.GetMsg(short(), 1); err == nil {
			t.Error("capture s07 read a stored message")
		}
	}
	if _, err := capture.js.ObjectStore(short(), ResultsBucket); err == nil {
		t.Error("capture s07 opened the results")
	}
	if _, err := capture.js.KeyValue(short(), StatusBucket); err == nil {
		t.Error("capture s07 opened the study status")
	}
	v := capture.violations()
	for _, want := range []string{`Publish to "affect.s08.frames"`, `Publish to "affect.s08.events"`, `Subscription to "affect.s08.frames"`,
		`Publish to "$JS.API.CONSUMER.CREATE.AFFECT`, `Publish to "$JS.API.STREAM.MSG.GET.AFFECT"`, `Publish to "$JS.API.STREAM.INFO.OBJ_AFFECT_RESULTS"`} {
		if !strings.Contains(v, want) {
			t.Errorf("no permission violation %s; got:\n%s", want, v)
		}
	}
	// Nothing of it reached the stream: s08 has only its session_start.
	ast, _ := admin.js.Stream(ctx, pipeline.StreamName)
	info, err := ast.Info(ctx, jetstream.WithSubjectFilter("affect.s08.>"))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects["affect.s08.events"]; n != 1 || info.State.Subjects["affect.s08.frames"] != 0 {
		t.Errorf("s08 holds %v", info.State.Subjects)
	}

	// A marker station may mark s07.
	if err := pipeline.PublishEvent(ctx, as("marker").js, pipeline.NewMarkerEvent("s07", record.Marker{OnsetMS: 1, Label: "x"})); err != nil {
		t.Errorf("marker station: %v", err)
	}
	// The capture station ends its session; the aggregator reads it through
	// a durable consumer and publishes its summary; a dashboard reads the
	// summary but may not publish one.
	if err := pipeline.PublishEvent(ctx, capture.js, pipeline.NewEndEvent("s07", pipeline.SessionEnd{Frames: 1, Published: 1})); err != nil {
		t.Fatalf("capture: own session_end: %v", err)
	}
	aggregator := as("aggregator")
	agg, _ := aggregate.New(aggregate.DefaultConfig())
	cons, err := pipeline.NewConsumer(aggregator.js, "s07", agg, pipeline.WithStopAtEnd(true), pipeline.WithConsumerLogger(natstest.Quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Run(short()); err != nil {
		t.Fatalf("aggregator: %v\n%s", err, aggregator.violations())
	}
	if s := cons.Stats(); s.Markers != 1 || s.Events < 2 {
		t.Errorf("aggregator read %+v", s)
	}
	sum := agg.Summary()
	if err := pipeline.PublishSummary(short(), aggregator.js, "s07", &sum); err != nil {
		t.Errorf("aggregator: publishing the summary: %v", err)
	}
	dashboard := as("dashboard")
	if _, err := pipeline.LastSummary(short(), dashboard.js, "s07"); err != nil {
		t.Errorf("dashboard: reading the summary: %v\n%s", err, dashboard.violations())
	}
	if err := pipeline.PublishSummary(short(), dashboard.js, "s07", &sum); err == nil {
		t.Error("dashboard published a summary")
	}
	if err := pipeline.PublishEvent(short(), aggregator.js, pipeline.NewMarkerEvent("s07", record.Marker{OnsetMS: 2, Label: "y"})); err == nil {
		t.Error("aggregator published a marker")
	}
}
