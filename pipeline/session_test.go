package pipeline_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/pipeline"
)

// TestSessionEndMatching: a session_end ends a session only when it carries
// the key its start announced and the frames it counts arrived; one that
// counts fewer frames than arrived is suspect, never trusted.
func TestSessionEndMatching(t *testing.T) {
	const session = "ends"
	key, hash := pipeline.NewEndKey()
	tok := pipeline.NewSessionToken()
	st := pipeline.NewSessionState(session)
	msg := func(v any) []byte { b, _ := json.Marshal(v); return b }
	hdr := nats.Header{pipeline.TokenHeader: []string{tok}}
	now := time.Now()
	start := pipeline.NewStartEvent(session, pipeline.SessionStart{Source: "video.mp4", FPS: 30, FrameCount: 100, Token: tok, EndKeyHash: hash, StartedUnixNano: now.UnixNano()})
	if h := st.Handle(pipeline.EventsSubject(session), msg(start), nil, now); h.Verdict != pipeline.VerdictStart {
		t.Fatalf("start: %+v", h)
	}
	end := func(published int, k string) pipeline.Verdict {
		last := int64(published - 1)
		ev := pipeline.NewEndEvent(session, pipeline.SessionEnd{Frames: published, Published: published, Token: tok, EndKey: k, LastFrame: &last})
		return st.Handle(pipeline.EventsSubject(session), msg(ev), nil, now).Verdict
	}
	if v := end(5, "guessed"); v != pipeline.VerdictSkipped {
		t.Errorf("an end without the announced key: verdict %v", v)
	}
	if v := end(5, key); v != pipeline.VerdictEnd {
		t.Errorf("early end with the key: verdict %v", v)
	}
	for i, f := range makeFrames(session, 10) {
		if h := st.Handle(pipeline.FramesSubject(session), msg(f), hdr, now); h.Verdict != pipeline.VerdictFrame {
			t.Fatalf("frame %d: %+v", i, h)
		}
		if es := st.End(); (i == 4) != (es.End != nil) {
			t.Fatalf("after frame %d the early end matches: %v", i, es.End != nil)
		}
	}
	if es := st.End(); es.End != nil || es.Suspect != 1 {
		t.Errorf("after 10 frames, the end counting 5: matched %v, suspect %d", es.End != nil, es.Suspect)
	}
	if v := end(10, key); v != pipeline.VerdictEnd {
		t.Fatalf("real end: verdict %v", v)
	}
	if es := st.End(); es.End == nil || es.End.Published != 10 || es.Ends != 2 || es.Suspect != 1 {
		t.Errorf("end state %+v", es)
	}
	if c := st.Counts(); c.Frames != 10 || c.Rejected[pipeline.RejectBadToken] != 1 {
		t.Errorf("counts %+v", c)
	}
}

// An event sent while no server answers for the stream (as while a new
// leader is elected) is sent again until the stream answers: here the
// stream appears 2 s later, longer than the 5 tries of 250 ms events once
// had, and the marker is stored exactly once.
func TestEventWaitsForTheStream(t *testing.T) {
	s := startServer(t, t.TempDir(), -1)
	_, js := natstest.Dial(t, s.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	made := make(chan error, 1)
	go func() {
		time.Sleep(2 * time.Second)
		_, err := pipeline.EnsureStreams(ctx, js)
		made <- err
	}()
	if err := pipeline.PublishEvent(ctx, js, pipeline.NewMarkerEvent("s1", testMarkers[0])); err != nil {
		t.Fatalf("marker sent while the stream was missing: %v", err)
	}
	if err := <-made; err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, pipeline.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(pipeline.EventsSubject("s1")))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[pipeline.EventsSubject("s1")]; n != 1 {
		t.Errorf("the stream holds %d events of the session, want the marker once", n)
	}
}
