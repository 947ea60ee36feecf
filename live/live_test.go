package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/export"
	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/internal/testenv"
	"github.com/affectlab/affect/live"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
)

// sessionConfig is a real-time session of the bundled sample video (180
// frames, 12 s) against the external (embedded) server at url.
func sessionConfig(t *testing.T, session, url, out string) live.SessionConfig {
	return live.SessionConfig{
		Session: session, Participant: "P01", Source: testenv.Sample(t), Realtime: true,
		Scorer:      classify.ScorerParams{Model: classify.DefaultModel, Backend: classify.BackendOpenCV, Detector: classify.DetectorParams{Cascade: "haar"}},
		Broker:      live.BrokerConfig{URL: url, Name: "test"},
		Aggregation: aggregate.DefaultConfig(), Out: out, DrainTimeout: 2 * time.Second,
		Stdout: &testenv.SyncBuffer{}, Stderr: &testenv.SyncBuffer{},
	}
}

func readSummary(t *testing.T, dir, session string) live.Summary {
	t.Helper()
	b, err := os.ReadFile(export.PathsFor(dir, session).Summary)
	if err != nil {
		t.Fatal(err)
	}
	var s live.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Defect 1: the broker goes away for good mid-session (a real server shut
// down and never restarted). The session ends within --drain-timeout of the
// capture's end, says status incomplete with how many frames are missing
// and why, writes that into summary.json and fails; after Ctrl-C it returns
// within about a second.
func TestBrokerLostForGood(t *testing.T) {
	for _, interrupt := range []bool{false, true} {
		t.Run(fmt.Sprintf("interrupt=%v", interrupt), func(t *testing.T) {
			nb := natstest.Start(t, t.TempDir())
			out := t.TempDir()
			cfg := sessionConfig(t, "lost", nb.URL(), out)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cancelled := make(chan time.Time, 1)
			go func() {
				// Kill the broker once the session has delivered some frames.
				for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
					if st, err := nb.JS.Stream(ctx, pipeline.StreamName); err == nil {
						if info, err := st.Info(ctx, jetstream.WithSubjectFilter(pipeline.FramesSubject("lost"))); err == nil && info.State.Msgs >= 10 {
							break
						}
					}
				}
				nb.Close() // killed, never restarted
				if interrupt {
					time.Sleep(time.Second)
					cancelled <- time.Now()
					cancel()
				}
			}()
			start := time.Now()
			res, err := live.RunSession(ctx, cfg)
			took := time.Since(start)
			stderr := cfg.Stderr.(*testenv.SyncBuffer).String()
			if err == nil {
				t.Fatalf("session with its broker gone succeeded\nstderr:\n%s", stderr)
			}
			if res.Summary == nil || res.Summary.Status != live.StatusIncomplete || len(res.Summary.Why) == 0 {
				t.Fatalf("summary %+v\nerr %v\nstderr:\n%s", res.Summary, err, stderr)
			}
			if !interrupt {
				if !errors.Is(err, live.ErrIncomplete) && !errors.Is(err, pipeline.ErrUndelivered) {
					t.Errorf("error %v does not say the result is incomplete", err)
				}
				// After the capture: at most the drain timeout and a little.
				if after := res.AfterCapture; after > cfg.DrainTimeout+time.Second {
					t.Errorf("session took %v after its capture ended (drain timeout %v)", after, cfg.DrainTimeout)
				}
				if !strings.Contains(stderr, "undelivered") && !strings.Contains(stderr, "could not be delivered") && !strings.Contains(stderr, "waiting") {
					t.Errorf("stderr does not say what it waited for:\n%s", stderr)
				}
			} else if after := time.Since(<-cancelled); after > 2500*time.Millisecond {
				t.Errorf("Ctrl-C took %v to return (%v after the capture stopped)", after, res.AfterCapture)
			}
			s := readSummary(t, out, "lost")
			if s.Status != live.StatusIncomplete || s.Overall.Frames >= int(res.Capture.Frames) || len(s.Why) == 0 {
				t.Errorf("summary.json: status %q, %d of %d frames, why %q", s.Status, s.Overall.Frames, res.Capture.Frames, s.Why)
			}
			t.Logf("captured %d, published %d, undelivered %d, in result %d; took %v; why: %q", res.Capture.Frames, res.Publish.Published, res.Publish.Undelivered, s.Overall.Frames, took.Round(time.Millisecond), s.Why)
		})
	}
}

// Defects 3 and 4, and 7: while a real session of a real video runs, a
// hostile client publishes a forged session_end 2.5 s in (with the
// historical message ID S/session_end, and one with the session's token
// read from session_start but without its end key) and impossible frames:
// media time 1e308, frame 99999999, a frame from another source, future
// frame number without the token (with the frame's old message ID),
// probabilities
// that do not sum to 1 and a negative box. The in-process aggregator and a
// second `affect aggregate`-style aggregator run after it both end with
// every real frame, status complete, the hostile messages counted by
// reason, and per-frame results equal to a session nobody attacked.
func TestForgedEndAndHostileFrames(t *testing.T) {
	nb := natstest.Start(t, t.TempDir())
	out := t.TempDir()
	const session = "attacked"
	cfg := sessionConfig(t, session, nb.URL(), out)
	ctx := context.Background()

	done := make(chan error, 1)
	var res live.SessionResult
	go func() {
		var err error
		res, err = live.RunSession(ctx, cfg)
		done <- err
	}()
	var start pipeline.SessionStart
	for deadline := time.Now().Add(30 * time.Second); ; {
		st, err := pipeline.FindSessionStart(ctx, nb.JS, session)
		if err == nil {
			start = st
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session_start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if start.Token == "" || start.Model != classify.DefaultModel || start.ModelVersion == "" || start.Backend != classify.BackendOpenCV {
		t.Errorf("session_start %+v lacks the token, model, version or backend", start)
	}
	time.Sleep(time.Until(time.Unix(0, start.StartedUnixNano).Add(2500 * time.Millisecond)))

	pub := func(subject string, v any, hdr nats.Header) {
		t.Helper()
		data, _ := json.Marshal(v)
		if _, err := nb.JS.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data, Header: hdr}); err != nil {
			t.Fatal(err)
		}
	}
	msgID := func(id string) nats.Header { return nats.Header{jetstream.MsgIDHeader: []string{id}} }
	withToken := func(id string) nats.Header {
		h := msgID(id)
		h.Set(pipeline.TokenHeader, start.Token)
		return h
	}
	// Forged ends.
	pub(pipeline.EventsSubject(session), pipeline.NewEndEvent(session, pipeline.SessionEnd{Frames: 81, Published: 81, Reason: "completed"}), msgID(session+"/session_end"))
	last := int64(80)
	forged := pipeline.SessionEnd{Frames: 81, Published: 81, Reason: "completed", Token: start.Token, LastFrame: &last}
	pub(pipeline.EventsSubject(session), pipeline.NewEndEvent(session, forged), msgID(pipeline.EventMsgID(pipeline.NewEndEvent(session, forged))))
	// Hostile frames.
	frame := func(n int64, media float64, source string) record.FrameScore {
		f := record.FrameScore{Schema: 1, Session: session, Participant: "P01", Source: source, Frame: n, MediaMS: media,
			FaceFound: true, NFaces: 1, Primary: &record.Face{Box: record.Box{W: 10, H: 10}, Happiness: 1}}
		f.Primary.Probs[record.HappyIndex] = 1
		return f
	}
	fs := pipeline.FramesSubject(session)
	hostile := []struct {
		f   record.FrameScore
		hdr nats.Header
	}{
		{frame(100, 1e308, start.Source), withToken("h1")},
		{frame(99999999, 100, start.Source), withToken("h2")},
		{frame(101, 3366, "other.mp4"), withToken("h3")},
		{frame(150, 5000, start.Source), msgID(session + "/" + start.Source + "/150")}, // no token, the frame's old ID
	}
	bad := frame(120, 4000, start.Source)
	bad.Primary.Probs[0] = 0.9 // sums to 1.9
	hostile = append(hostile, struct {
		f   record.FrameScore
		hdr nats.Header
	}{bad, withToken("h5")})
	neg := frame(121, 4033, start.Source)
	neg.Primary.Box.X = -5
	hostile = append(hostile, struct {
		f   record.FrameScore
		hdr nats.Header
	}{neg, withToken("h6")})
	for _, h := range hostile {
		pub(fs, h.f, h.hdr)
	}

	if err := <-done; err != nil {
		t.Fatalf("attacked session failed: %v\nstderr:\n%s", err, cfg.Stderr.(*testenv.SyncBuffer).String())
	}
	ls := readSummary(t, out, session)
	d := ls.Delivery
	if ls.Status != live.StatusComplete || ls.Overall.Frames != int(res.Capture.Frames) || d == nil {
		t.Fatalf("status %q, %d of %d frames, why %q", ls.Status, ls.Overall.Frames, res.Capture.Frames, ls.Why)
	}
	if ls.Model != classify.DefaultModel || ls.ModelVersion != start.ModelVersion || ls.Backend != classify.BackendOpenCV {
		t.Errorf("summary model %q %q %q", ls.Model, ls.ModelVersion, ls.Backend)
	}
	wantRejected := map[string]int{
		pipeline.RejectMediaTime:     1,
		pipeline.RejectFrameRange:    1,
		pipeline.RejectWrongSource:   1,
		pipeline.RejectBadToken:      3, // the frame without token, both forged ends
		pipeline.RejectProbabilities: 1,
		pipeline.RejectBox:           1,
	}
	for reason, n := range wantRejected {
		if d.Rejected[reason] != n {
			t.Errorf("rejected %s = %d, want %d (all: %v)", reason, d.Rejected[reason], n, d.Rejected)
		}
	}
	if d.SessionEnds != 1 {
		t.Errorf("session ends accepted: %d, want 1 (the real one)", d.SessionEnds)
	}

	// A second aggregator, reading the stored session from the start (the
	// forged end comes before most frames there), reaches the same result.
	agg, err := live.NewAggregation(nb.JS, live.AggregationConfig{Session: session, Name: "second", Config: aggregate.DefaultConfig(), EndGrace: 5 * time.Second, KeepFrames: true})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := agg.Run(rctx); err != nil {
		t.Fatal(err)
	}
	second := agg.Finish(nil, 0)
	if second.Status != live.StatusComplete || second.Overall.Frames != ls.Overall.Frames || *second.Overall.Mean != *ls.Overall.Mean {
		t.Errorf("second aggregator: status %q, %d frames, why %q", second.Status, second.Overall.Frames, second.Why)
	}

	// The per-frame results equal those of the frames the real publisher
	// sent: frame 150 (forged first without the token) is the real one.
	frames := agg.Aggregator().Frames()
	for _, f := range frames {
		if f.Source != start.Source || f.MediaMS > 1e6 {
			t.Fatalf("a hostile frame was used: %+v", f)
		}
		if f.Frame == 150 && f.FaceFound && f.Primary.Happiness == 1 && f.Primary.Box.W == 10 {
			t.Fatal("the real frame 150 was replaced by the forged one")
		}
	}
}
