package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/pipeline/broker"
	"github.com/affectlab/affect/record"
)

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestSessionThroughNATS: a whole session published through a real embedded
// server and aggregated by the durable consumer equals the offline aggregate
// of the same frames and markers.
func TestSessionThroughNATS(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	nc, js := connect(t, srv.ClientURL())
	const session = "s-live_1"
	frames := makeFrames(session, 300)
	ctx := context.Background()
	if err := pipeline.StartSession(ctx, js, session, pipeline.SessionStart{Participant: "P01", Source: "video.mp4", FPS: 30}); err != nil {
		t.Fatal(err)
	}
	if err := pipeline.StartSession(ctx, js, session, pipeline.SessionStart{}); !errors.Is(err, pipeline.ErrSessionExists) {
		t.Errorf("second StartSession: %v, want ErrSessionExists", err)
	}
	publishFrames(t, nc, frames[:150])
	for _, m := range testMarkers {
		publishEvent(t, js, pipeline.NewMarkerEvent(session, m))
	}
	publishFrames(t, nc, frames[150:])
	publishFrames(t, nc, frames[10:20]) // a retry of stored frames: de-duplicated by the stream
	publishEvent(t, js, pipeline.NewMarkerEvent(session, testMarkers[0]))
	publishEvent(t, js, endEvent(session, len(frames)))

	if n := streamFrameCount(t, js, session); n != uint64(len(frames)) {
		t.Errorf("stream holds %d frames, want %d (Nats-Msg-Id de-duplication)", n, len(frames))
	}
	got, stats := consume(t, js, session, "agg")
	want := offline(t, frames, testMarkers)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("live summary differs from offline:\n got %s\nwant %s", mustJSON(got), mustJSON(want))
	}
	if stats.Frames != len(frames) || stats.Markers != 3 || stats.Events != 5 || stats.Malformed != 0 || stats.UnknownSchema != 0 {
		t.Errorf("consumer stats %+v", stats)
	}
	ss, err := pipeline.FindSessionStart(ctx, js, session)
	if err != nil || ss.Participant != "P01" || ss.FPS != 30 || ss.StartedUnixNano == 0 {
		t.Errorf("FindSessionStart = %+v, %v", ss, err)
	}
}

// TestConsumerKilledAndRestarted: the aggregator process dies mid-session
// (its connection is cut after a message was processed but before its ack;
// fetched messages are lost with it) and a new one starts with the same
// durable name and an empty aggregator. Its final summary equals that of an
// undisturbed consumer.
func TestConsumerKilledAndRestarted(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	nc, js := connect(t, srv.ClientURL())
	const session = "restart"
	frames := makeFrames(session, 600)
	ctx := context.Background()
	if err := pipeline.StartSession(ctx, js, session, pipeline.SessionStart{Source: "video.mp4"}); err != nil {
		t.Fatal(err)
	}
	publishFrames(t, nc, frames[:200])
	publishEvent(t, js, pipeline.NewMarkerEvent(session, testMarkers[0]))
	publishFrames(t, nc, frames[200:400])

	// First aggregator process: killed after processing stream sequence 250.
	killedNC, killedJS := connect(t, srv.ClientURL())
	agg1, _ := aggregate.New(aggregate.DefaultConfig())
	c1, err := pipeline.NewConsumer(killedJS, session, agg1, pipeline.WithConsumerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	pipeline.SetAfterProcess(c1, func(seq uint64) {
		if seq == 250 {
			killedNC.Close() // the ack of 250 is never sent
			cancel()
		}
	})
	if err := c1.Run(runCtx); !errors.Is(err, context.Canceled) {
		t.Fatalf("killed consumer returned %v", err)
	}
	if n := agg1.Len(); n == 0 || n >= len(frames) {
		t.Fatalf("killed consumer had %d frames, want a part", n)
	}

	// The session goes on while no aggregator runs.
	publishEvent(t, js, pipeline.NewMarkerEvent(session, testMarkers[1]))
	publishFrames(t, nc, frames[400:])
	publishEvent(t, js, pipeline.NewMarkerEvent(session, testMarkers[2]))
	publishEvent(t, js, endEvent(session, len(frames)))

	restarted, st := consume(t, js, session, "aggregate") // same durable as c1
	undisturbed, _ := consume(t, js, session, "reference")
	if !reflect.DeepEqual(restarted, undisturbed) {
		t.Errorf("restarted summary differs:\n got %s\nwant %s", mustJSON(restarted), mustJSON(undisturbed))
	}
	if restarted.DuplicateFrames != 0 || restarted.Overall.Frames != len(frames) {
		t.Errorf("restarted: %d frames, %d duplicates; want %d, 0", restarted.Overall.Frames, restarted.DuplicateFrames, len(frames))
	}
	if st.Replayed == 0 {
		t.Error("the restarted consumer replayed nothing: it did not resume a durable consumer")
	}
	if want := offline(t, frames, testMarkers); !reflect.DeepEqual(undisturbed, want) {
		t.Errorf("undisturbed summary differs from offline")
	}
}

// TestServerRestartedMidSession: the embedded server (file store) is shut
// down and started again on the same data directory while the publisher and
// the consumer run. No frame is lost or duplicated: the stream and the
// summary each hold every frame exactly once.
func TestServerRestartedMidSession(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir, -1)
	port := srv.Port()
	url := srv.ClientURL()
	nc, js := connect(t, url)
	const session = "srvrestart"
	frames := makeFrames(session, 900)
	ctx := context.Background()
	if err := pipeline.StartSession(ctx, js, session, pipeline.SessionStart{Source: "video.mp4"}); err != nil {
		t.Fatal(err)
	}

	agg, _ := aggregate.New(aggregate.DefaultConfig())
	cnc, cjs := connect(t, url)
	_ = cnc
	cons, err := pipeline.NewConsumer(cjs, session, agg, pipeline.WithConsumerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	consErr := make(chan error, 1)
	go func() { consErr <- cons.Run(runCtx) }()

	pub, err := pipeline.NewPublisher(nc, pipeline.WithPublisherLogger(quiet), pipeline.WithAckTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		if i == 300 {
			srv.Shutdown()
		}
		if i == 450 {
			time.Sleep(1200 * time.Millisecond) // outage longer than the ack timeout: publishes fail and are retried
		}
		if i == 600 {
			srv = startServer(t, dir, port)
		}
		if err := pub.Process(ctx, f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if i%30 == 0 {
			time.Sleep(10 * time.Millisecond) // let some frames go out before the restart
		}
	}
	closeCtx, cc := context.WithTimeout(ctx, 30*time.Second)
	defer cc()
	rep, err := pub.Close(closeCtx)
	if err != nil || rep.Published != len(frames) || rep.Undelivered != 0 {
		t.Fatalf("publisher: %+v, %v", rep, err)
	}
	publishEvent(t, js, pipeline.NewEndEvent(session, pipeline.SessionEnd{Frames: len(frames), Published: rep.Published}))
	if err := <-consErr; err != nil {
		t.Fatalf("consumer: %v", err)
	}
	if n := streamFrameCount(t, js, session); n != uint64(len(frames)) {
		t.Errorf("stream holds %d frame messages, want %d", n, len(frames))
	}
	got := agg.Summary()
	if got.Overall.Frames != len(frames) || got.DuplicateFrames != 0 {
		t.Errorf("summary has %d distinct frames and %d duplicates; want %d and 0", got.Overall.Frames, got.DuplicateFrames, len(frames))
	}
	if want := offline(t, frames, nil); !reflect.DeepEqual(got, want) {
		t.Errorf("summary after server restart differs from offline")
	}
	if rep.Retries == 0 {
		t.Error("no publish was retried: the outage did not disturb the publisher")
	}
	t.Logf("publisher: %+v", rep)
}

// TestPublisherBrokerUnreachable: while the broker is down the publisher
// buffers up to its bound, refuses the rest with ErrBufferFull, and reports
// exactly how many frames were not delivered.
func TestPublisherBrokerUnreachable(t *testing.T) {
	const bound, before, during = 50, 10, 80
	for _, comesBack := range []bool{true, false} {
		name := map[bool]string{true: "broker comes back", false: "broker stays down"}[comesBack]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			srv := startServer(t, dir, -1)
			port := srv.Port()
			nc, js := connect(t, srv.ClientURL())
			const session = "unreachable"
			frames := makeFrames(session, before+during)
			ctx := context.Background()
			pub, err := pipeline.NewPublisher(nc, pipeline.WithBuffer(bound), pipeline.WithAckTimeout(300*time.Millisecond), pipeline.WithPublisherLogger(quiet))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range frames[:before] {
				if err := pub.Process(ctx, f); err != nil {
					t.Fatal(err)
				}
			}
			if err := pub.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			srv.Shutdown()
			refused := 0
			for _, f := range frames[before:] {
				err := pub.Process(ctx, f)
				switch {
				case errors.Is(err, pipeline.ErrBufferFull):
					refused++
				case err != nil:
					t.Fatal(err)
				}
			}
			if refused != during-bound {
				t.Errorf("refused %d frames, want %d", refused, during-bound)
			}
			if s := pub.Stats(); s.Buffered != bound || s.Dropped != during-bound || s.Published != before {
				t.Errorf("stats while down: %+v", s)
			}
			time.Sleep(700 * time.Millisecond) // retries go on while the broker is down
			if comesBack {
				startServer(t, dir, port)
			}
			closeCtx, cancel := context.WithTimeout(ctx, map[bool]time.Duration{true: 20 * time.Second, false: time.Second}[comesBack])
			defer cancel()
			rep, err := pub.Close(closeCtx)
			if !errors.Is(err, pipeline.ErrUndelivered) {
				t.Errorf("Close error = %v, want ErrUndelivered", err)
			}
			wantPublished, wantUnsent := before+bound, 0
			if !comesBack {
				wantPublished, wantUnsent = before, bound
			}
			if rep.Published != wantPublished || rep.Dropped != during-bound || rep.Unsent != wantUnsent || rep.Undelivered != during-bound+wantUnsent {
				t.Errorf("report %+v: want published %d, dropped %d, unsent %d", rep, wantPublished, during-bound, wantUnsent)
			}
			if rep.Retries == 0 {
				t.Error("no retries counted while the broker was down")
			}
			t.Logf("%s: %v", name, err)
			if comesBack {
				if n := streamFrameCount(t, js, session); n != uint64(wantPublished) {
					t.Errorf("stream holds %d frames, want %d", n, wantPublished)
				}
			}
			if err := pub.Process(ctx, frames[0]); !errors.Is(err, pipeline.ErrClosed) {
				t.Errorf("Process after Close = %v, want ErrClosed", err)
			}
		})
	}
}

// TestBadMessagesSkipped: malformed JSON, wrong schema versions, invalid
// payloads and frames of another session are skipped and counted, and the
// consumer keeps going.
func TestBadMessagesSkipped(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	nc, js := connect(t, srv.ClientURL())
	const session = "bad"
	ctx := context.Background()
	frames := makeFrames(session, 60)
	if err := pipeline.StartSession(ctx, js, session, pipeline.SessionStart{Source: "x"}); err != nil {
		t.Fatal(err)
	}
	publishFrames(t, nc, frames[:30])
	raw := func(subject, data string) {
		if _, err := js.Publish(ctx, subject, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	fs, es := pipeline.FramesSubject(session), pipeline.EventsSubject(session)
	other := makeFrames("othersession", 1)[0]
	tests := []struct {
		subject, data string
		unknownSchema bool
	}{
		{fs, `{not json`, false},
		{fs, ``, false},
		{fs, `{"schema":2,"session":"bad","source":"v","frame":999}`, true},
		{fs, `{"schema":1,"session":"bad","source":"v","frame":998,"face_found":true}`, false}, // face but no primary
		{fs, `{"schema":1,"session":"bad","source":"v","frame":997,"face_found":true,"primary":{"happiness":7}}`, false},
		{fs, mustJSON(other), false}, // frame of another session on this subject
		{es, `[1,2,3]`, false},
		{es, `{"schema":99,"type":"marker","session":"bad","marker":{"onset_ms":1,"label":"x"}}`, true},
		{es, `{"schema":1,"type":"explode","session":"bad"}`, false},
		{es, `{"schema":1,"type":"marker","session":"bad"}`, false},
		{es, `{"schema":1,"type":"marker","session":"bad","marker":{"onset_ms":1,"label":""}}`, false},
	}
	wantMalformed, wantUnknown := 0, 0
	for _, tc := range tests {
		raw(tc.subject, tc.data)
		if tc.unknownSchema {
			wantUnknown++
		} else {
			wantMalformed++
		}
	}
	publishFrames(t, nc, frames[30:])
	publishEvent(t, js, pipeline.NewMarkerEvent(session, testMarkers[0]))
	publishEvent(t, js, endEvent(session, len(frames)))

	got, st := consume(t, js, session, "agg")
	if st.Malformed != wantMalformed || st.UnknownSchema != wantUnknown {
		t.Errorf("malformed %d unknown schema %d, want %d and %d", st.Malformed, st.UnknownSchema, wantMalformed, wantUnknown)
	}
	if want := offline(t, frames, testMarkers[:1]); !reflect.DeepEqual(got, want) {
		t.Errorf("summary with bad messages skipped differs:\n got %s\nwant %s", mustJSON(got), mustJSON(want))
	}
}

// TestSessionErrors: a session that does not exist, bad names.
func TestSessionErrors(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	nc, _ := connect(t, srv.ClientURL())
	ctx := context.Background()

	// A server where no affect session ever ran: no stream at all.
	fresh := startServer(t, t.TempDir(), -1)
	_, freshJS := func() (any, jetstream.JetStream) {
		c, err := jetstream.New(mustConnect(t, fresh.ClientURL()))
		if err != nil {
			t.Fatal(err)
		}
		return nil, c
	}()
	if _, err := pipeline.FindSessionStart(ctx, freshJS, "nope"); !errors.Is(err, pipeline.ErrNoSession) || !strings.Contains(err.Error(), "no AFFECT stream") {
		t.Errorf("FindSessionStart on a fresh server: %v", err)
	}

	js, _ := jetstream.New(nc)
	publishEvent(t, js, pipeline.NewStartEvent("exists", pipeline.SessionStart{Source: "x"}))
	if _, err := pipeline.FindSessionStart(ctx, js, "nope"); !errors.Is(err, pipeline.ErrNoSession) || !strings.Contains(err.Error(), "affect session --session nope") {
		t.Errorf("FindSessionStart of a missing session: %v", err)
	}
	agg, _ := aggregate.New(aggregate.DefaultConfig())
	c, err := pipeline.NewConsumer(js, "nope", agg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx); !errors.Is(err, pipeline.ErrNoSession) || !strings.Contains(err.Error(), "--wait") {
		t.Errorf("consumer of a missing session: %v", err)
	}
	// With WithWaitForSession the consumer waits for it.
	c, _ = pipeline.NewConsumer(js, "later", agg, pipeline.WithWaitForSession(true), pipeline.WithConsumerLogger(quiet))
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(300 * time.Millisecond)
	publishEvent(t, js, pipeline.NewStartEvent("later", pipeline.SessionStart{Source: "x"}))
	publishEvent(t, js, endEvent("later", 0))
	select {
	case err := <-done:
		if err != nil || c.Start() == nil || c.End() == nil {
			t.Errorf("waiting consumer: %v start %v end %v", err, c.Start(), c.End())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiting consumer did not see the session")
	}

	for _, name := range []string{"", "a.b", "a b", "a*", "a>", strings.Repeat("x", 65)} {
		if err := pipeline.ValidateSession(name); !errors.Is(err, pipeline.ErrBadSession) {
			t.Errorf("ValidateSession(%q) = %v", name, err)
		}
		if _, err := pipeline.NewConsumer(js, name, agg); !errors.Is(err, pipeline.ErrBadSession) {
			t.Errorf("NewConsumer(%q) = %v", name, err)
		}
	}
	if err := pipeline.ValidateSession("P01_run-2"); err != nil {
		t.Error(err)
	}
	p, _ := pipeline.NewPublisher(nc)
	if err := p.Process(ctx, record.FrameScore{Session: "a.b"}); !errors.Is(err, pipeline.ErrBadSession) {
		t.Errorf("Process with a bad session: %v", err)
	}
	if err := p.Process(ctx, record.FrameScore{Schema: 9, Session: "ok"}); !errors.Is(err, pipeline.ErrUnknownSchema) {
		t.Errorf("Process with schema 9: %v", err)
	}
	p.Close(ctx)
	for _, bad := range []pipeline.PublisherOption{pipeline.WithBuffer(0), pipeline.WithMaxInFlight(0), pipeline.WithAckTimeout(0), pipeline.WithRetryWait(-1)} {
		if _, err := pipeline.NewPublisher(nc, bad); err == nil {
			t.Error("invalid publisher option accepted")
		}
	}
}

func TestEnsureStreamsIdempotent(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	_, js := connect(t, srv.ClientURL())
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		st, err := pipeline.EnsureStreams(ctx, js)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.Duplicates != pipeline.DuplicateWindow || info.Config.Storage != jetstream.FileStorage {
			t.Errorf("stream config %+v", info.Config)
		}
	}
}

// TestSummarySubject: the latest summary per session is kept for late readers.
func TestSummarySubject(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	_, js := connect(t, srv.ClientURL())
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		s := aggregate.Summary{Schema: aggregate.SummarySchemaVersion, Session: "sum", Overall: aggregate.Stats{Frames: i}}
		if err := pipeline.PublishSummary(ctx, js, s.Session, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := pipeline.LastSummary(ctx, js, "sum")
	if err != nil {
		t.Fatal(err)
	}
	var s aggregate.Summary
	if err := json.Unmarshal(got, &s); err != nil || s.Overall.Frames != 3 {
		t.Errorf("last summary %s, %v", got, err)
	}
	if _, err := pipeline.LastSummary(ctx, js, "none"); !errors.Is(err, pipeline.ErrNoSession) {
		t.Errorf("LastSummary of a missing session: %v", err)
	}
}

// TestPublisherBlockWhenFull: with WithBlockWhenFull, Process waits for room
// while the broker is down and refuses (counting it) only when its context ends.
func TestPublisherBlockWhenFull(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir, -1)
	port := srv.Port()
	nc, js := connect(t, srv.ClientURL())
	frames := makeFrames("block", 20)
	pub, err := pipeline.NewPublisher(nc, pipeline.WithBuffer(5), pipeline.WithBlockWhenFull(), pipeline.WithAckTimeout(200*time.Millisecond), pipeline.WithPublisherLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	ctx := context.Background()
	for _, f := range frames[:5] {
		if err := pub.Process(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err = pub.Process(short, frames[5])
	cancel()
	if !errors.Is(err, pipeline.ErrBufferFull) || pub.Stats().Dropped != 1 {
		t.Fatalf("Process with a full buffer and an ending context: %v, stats %+v", err, pub.Stats())
	}
	// A blocked Process goes on once the broker is back.
	restarted := make(chan *broker.Server, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		s, err := broker.Start(broker.Config{DataDir: dir, Port: port, Logger: quiet})
		if err != nil {
			t.Error(err)
		}
		restarted <- s
	}()
	defer func() {
		if s := <-restarted; s != nil {
			s.Shutdown()
		}
	}()
	for _, f := range frames[6:] {
		if err := pub.Process(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	closeCtx, cc := context.WithTimeout(ctx, 20*time.Second)
	defer cc()
	rep, err := pub.Close(closeCtx)
	if rep.Published != 19 || rep.Undelivered != 1 || !errors.Is(err, pipeline.ErrUndelivered) {
		t.Errorf("report %+v, %v: want 19 published, 1 undelivered", rep, err)
	}
	if n := streamFrameCount(t, js, "block"); n != 19 {
		t.Errorf("stream holds %d frames, want 19", n)
	}
}
