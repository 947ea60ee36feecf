package pipeline_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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
