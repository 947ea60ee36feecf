package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/affectlab/affect/dashboard"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/record"
)

func TestNewValidatesOptions(t *testing.T) {
	nc, _ := startBroker(t)
	tok := "0123456789abcdef0123"
	for _, c := range []struct {
		name string
		opts []dashboard.Option
		want error // nil: New succeeds
	}{
		{"default loopback", nil, nil},
		{"localhost", []dashboard.Option{dashboard.WithAddr("localhost:0")}, nil},
		{"ipv6 loopback", []dashboard.Option{dashboard.WithAddr("[::1]:0")}, nil},
		{"all interfaces without token", []dashboard.Option{dashboard.WithAddr(":8080")}, dashboard.ErrTokenRequired},
		{"LAN address without token", []dashboard.Option{dashboard.WithAddr("192.168.1.5:8080")}, dashboard.ErrTokenRequired},
		{"all interfaces with token", []dashboard.Option{dashboard.WithAddr("0.0.0.0:0"), dashboard.WithToken(tok)}, nil},
		{"no port", []dashboard.Option{dashboard.WithAddr("127.0.0.1")}, dashboard.ErrOption},
		{"bad port", []dashboard.Option{dashboard.WithAddr("127.0.0.1:http")}, dashboard.ErrOption},
		{"port too big", []dashboard.Option{dashboard.WithAddr("127.0.0.1:70000")}, dashboard.ErrOption},
		{"short token", []dashboard.Option{dashboard.WithToken("secret")}, dashboard.ErrOption},
		{"token with space", []dashboard.Option{dashboard.WithToken("0123456789 abcdef")}, dashboard.ErrOption},
		{"few points", []dashboard.Option{dashboard.WithMaxPoints(10)}, dashboard.ErrOption},
		{"short window", []dashboard.Option{dashboard.WithRecentWindow(time.Second)}, dashboard.ErrOption},
		{"no sessions", []dashboard.Option{dashboard.WithMaxSessions(0)}, dashboard.ErrOption},
		{"fast updates", []dashboard.Option{dashboard.WithUpdateInterval(time.Millisecond)}, dashboard.ErrOption},
		{"nil metrics", []dashboard.Option{dashboard.WithMetrics(nil)}, dashboard.ErrOption},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, err := dashboard.New(nc, append(c.opts, dashboard.WithLogger(quiet))...)
			if srv != nil {
				defer srv.Close()
			}
			if c.want == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("New: %v, want %v", err, c.want)
			}
			t.Logf("error, as the user sees it: %v", err)
		})
	}
	if _, err := dashboard.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestStartFailsWhenPortIsTaken(t *testing.T) {
	nc, _ := startBroker(t)
	_, url, _ := startDashboard(t, nc)
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	srv, err := dashboard.New(nc, dashboard.WithAddr(addr), dashboard.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot listen") {
		t.Fatalf("Start on a taken port: %v, want a 'cannot listen' error", err)
	}
}

func TestTokenAuth(t *testing.T) {
	nc, _ := startBroker(t)
	const tok = "s3cret-token-0123456789"
	_, base, _ := startDashboard(t, nc, dashboard.WithToken(tok))
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct {
		path string
		hdr  map[string]string
		want int
	}{
		{"", nil, 401},
		{"api/sessions", nil, 401},
		{"metrics", nil, 401},
		{"static/app.css", nil, 401},
		{"api/sessions", map[string]string{"Authorization": "Bearer wrong-token-0123456789"}, 401},
		{"api/sessions", map[string]string{"Authorization": "Bearer " + tok}, 200},
		{"metrics", map[string]string{"Authorization": "Bearer " + tok}, 200},
		{"api/sessions", map[string]string{"Cookie": "affect_token=" + tok}, 200},
		{"api/sessions?token=" + tok, nil, 200},
		{"healthz", nil, 200},
	} {
		if got := get(c.path, c.hdr); got.StatusCode != c.want {
			t.Errorf("GET /%s %v: %s, want %d", c.path, c.hdr, got.Status, c.want)
		}
	}
	// Opening the page with ?token= sets the cookie and removes the token from the address.
	resp := get("?token="+tok, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("GET /?token=: %s to %q, want 303 to /", resp.Status, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "affect_token" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != tok || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie %+v, want an HttpOnly SameSite=Strict affect_token", cookie)
	}
}

func TestPagesAndSecurityHeaders(t *testing.T) {
	nc, _ := startBroker(t)
	_, base, _ := startDashboard(t, nc)
	for _, c := range []struct {
		path, contains, ctype string
		code                  int
	}{
		{"", "<title>affect · sessions</title>", "text/html", 200},
		{"session/pilot-01", `src="../static/session.js"`, "text/html", 200},
		{"session/bad.name", "", "", 404},
		{"static/session.js", "EventSource", "text/javascript", 200},
		{"static/app.css", "canvas.plot", "text/css", 200},
		{"api/sessions/nobody", "no such session", "application/json", 404},
		{"api/sessions/bad.name", "", "", 404},
	} {
		resp, err := http.Get(base + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(string(b), c.contains) || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("GET /%s: %s %q, body %.80q; want %d %q containing %q", c.path, resp.Status, resp.Header.Get("Content-Type"), b, c.code, c.ctype, c.contains)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET /%s: Content-Security-Policy %q", c.path, csp)
		}
	}
	// No asset refers to anything outside the dashboard.
	for _, p := range []string{"", "session/x", "static/session.js", "static/list.js", "static/app.css"} {
		resp, _ := http.Get(base + p)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "fonts.g"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("/%s refers to %q: the dashboard must work offline", p, bad)
			}
		}
	}
}

// TestLiveSessionThroughNATS publishes a session (start, frames, a marker,
// summaries from the real aggregator) through a real embedded NATS server
// and checks what the dashboard serves, and that a finished session is read
// back from the stream by a dashboard started afterwards.
func TestLiveSessionThroughNATS(t *testing.T) {
	nc, js := startBroker(t)
	_, base, m := startDashboard(t, nc)
	const session = "live-1"
	runAggregator(t, js, session, 100*time.Millisecond)
	publishEvent(t, js, pipeline.NewStartEvent(session, pipeline.SessionStart{Participant: "P01", Source: "synthetic", FPS: 30, StartedUnixNano: time.Now().UnixNano()}))
	frames := synthFrames(session, 0, 900) // 30 s
	publish(t, nc, frames[:450])
	publishEvent(t, js, pipeline.NewMarkerEvent(session, record.Marker{OnsetMS: 5000, Label: "joke", Condition: "funny"}))
	publish(t, nc, frames[450:])
	publish(t, nc, frames[100:110]) // a retry of stored frames: the stream drops them
	publishEvent(t, js, pipeline.NewEndEvent(session, pipeline.SessionEnd{Frames: 900, Published: 900, EndedUnixNano: time.Now().UnixNano(), Reason: "completed"}))

	faces := 0
	for _, f := range frames {
		if f.FaceFound {
			faces++
		}
	}
	var s snapshot
	waitFor(t, 10*time.Second, "all frames, the marker, the end and a summary with the epoch", func() bool {
		s = pollSnapshot(t, base, session)
		return s.Info.Frames == 900 && s.Info.Status == dashboard.StatusEnded && len(s.Markers) == 1 &&
			s.Summary != nil && s.Summary.Overall.Frames == 900 && len(s.Summary.Epochs) == 1
	})
	if s.Info.FaceFrames != int64(faces) || !s.Full || s.Info.Last == nil || s.Info.Last.Frame != 899 {
		t.Errorf("info %+v, want %d face frames, last frame 899", s.Info, faces)
	}
	// 30 s in 100 ms bins: 300 bins, each of 3 frames.
	n := 0
	for _, b := range s.Ov.B {
		n += int(b[1])
	}
	if s.Ov.W != 100 || s.Ov.N != 300 || n != 900 {
		t.Errorf("overview: width %v, %d bins holding %d frames; want 100 ms, 300, 900", s.Ov.W, s.Ov.N, n)
	}
	if len(s.Rc.B) != 300 { // the last minute holds the whole 30 s
		t.Errorf("recent: %d bins, want 300", len(s.Rc.B))
	}
	if e := s.Summary.Epochs[0]; e.Label != "joke" || e.ResponseMean == nil {
		t.Errorf("epoch %+v", e)
	}
	if c := s.Summary.Conditions; len(c) != 1 || c[0].Condition != "funny" {
		t.Errorf("conditions %+v", c)
	}

	// The list shows it.
	resp, err := http.Get(base + "api/sessions")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Sessions []struct {
			Session, Status string
			Frames          int64
		}
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Sessions) != 1 || list.Sessions[0].Session != session || list.Sessions[0].Frames != 900 {
		t.Errorf("session list %+v", list)
	}

	// Prometheus counters match the frames.
	fams := scrape(t, base)
	for name, want := range map[string]float64{
		"affect_dashboard_frames_total":         900,
		"affect_dashboard_no_face_frames_total": float64(900 - faces),
	} {
		if got, err := metricValue(fams, name, map[string]string{"session": session}); err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", name, got, err, want)
		}
	}
	if got, err := metricValue(fams, "affect_consumer_lag_messages", map[string]string{"session": session, "consumer": "dashboard"}); err != nil || got != 0 {
		t.Errorf("consumer lag %v (%v), want 0", got, err)
	}
	_ = m

	// A dashboard started after the session ended reads it back from the stream.
	_, base2, _ := startDashboard(t, nc)
	waitFor(t, 5*time.Second, "the stored session in the list", func() bool {
		resp, err := http.Get(base2 + "api/sessions")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `"status":"stored"`)
	})
	var s2 snapshot
	waitFor(t, 10*time.Second, "the stored session read back", func() bool {
		s2 = pollSnapshot(t, base2, session)
		return s2.Info.Frames == 900 && s2.Info.Pending == 0 && s2.Summary != nil
	})
	if s2.Info.FaceFrames != s.Info.FaceFrames || len(s2.Markers) != 1 || s2.Info.Status != dashboard.StatusEnded || s2.Ov.N != s.Ov.N {
		t.Errorf("read back: %+v, want the live view's numbers %+v", s2.Info, s.Info)
	}
}

// TestStreamSendsDeltas reads the SSE stream: first the full state, then
// updates that carry only the bins that changed.
func TestStreamSendsDeltas(t *testing.T) {
	nc, js := startBroker(t)
	_, base, m := startDashboard(t, nc, dashboard.WithUpdateInterval(50*time.Millisecond))
	const session = "sse-1"
	publishEvent(t, js, pipeline.NewStartEvent(session, pipeline.SessionStart{Source: "synthetic"}))
	publish(t, nc, synthFrames(session, 0, 300))
	waitFor(t, 5*time.Second, "300 frames", func() bool { s := pollSnapshot(t, base, session); return s.Info.Frames == 300 })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"api/sessions/"+session+"/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan snapshot, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var s snapshot
				if json.Unmarshal([]byte(d), &s) == nil {
					events <- s
				}
			}
		}
		close(events)
	}()
	next := func() snapshot {
		select {
		case s := <-events:
			return s
		case <-time.After(5 * time.Second):
			t.Fatal("no SSE update within 5 s")
		}
		return snapshot{}
	}
	first := next()
	if !first.Full || first.Info.Frames != 300 || len(first.Ov.B) != 100 {
		t.Fatalf("first update: full %v, %d frames, %d bins; want full, 300, 100", first.Full, first.Info.Frames, len(first.Ov.B))
	}
	waitFor(t, time.Second, "one SSE client in the metrics", func() bool {
		v, _ := metricValue(scrape(t, base), "affect_dashboard_clients", nil)
		return v == 1
	})
	publish(t, nc, synthFrames(session, 300, 3)) // 0.1 s: one new bin
	var upd snapshot
	for upd.Info.Frames != 303 {
		upd = next()
	}
	if upd.Full || len(upd.Ov.B) > 2 || upd.V <= first.V {
		t.Errorf("delta update: full %v, %d bins, v %d after %d; want only the changed bin(s)", upd.Full, len(upd.Ov.B), upd.V, first.V)
	}
	_ = m
}

// TestBadMessagesAreSkippedAndCounted publishes malformed JSON, an unknown
// schema version and a frame of another session on a session's subjects.
func TestBadMessagesAreSkippedAndCounted(t *testing.T) {
	nc, js := startBroker(t)
	_, base, _ := startDashboard(t, nc)
	const session = "bad-1"
	publish(t, nc, synthFrames(session, 0, 30))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, data := range []string{
		`{not json`,
		`{"schema":99,"session":"bad-1","source":"x","frame":1000}`,
		`{"schema":1,"session":"other","source":"x","frame":1001}`,
		`{"schema":1,"session":"bad-1","source":"x","frame":1002,"face_found":true}`,
	} {
		if _, err := js.Publish(ctx, pipeline.FramesSubject(session), []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Publish(pipeline.SummarySubject(session), []byte(`{"schema":7}`))
	publish(t, nc, synthFrames(session, 30, 30))
	var s snapshot
	waitFor(t, 5*time.Second, "60 good frames", func() bool { s = pollSnapshot(t, base, session); return s.Info.Frames == 60 })
	waitFor(t, 5*time.Second, "5 skipped messages", func() bool {
		s = pollSnapshot(t, base, session)
		return s.Info.Skipped.Malformed+s.Info.Skipped.UnknownSchema == 5
	})
	if s.Info.Skipped.UnknownSchema != 2 || s.Info.Skipped.Malformed != 3 {
		t.Errorf("skipped %+v, want 3 malformed and 2 unknown schema", s.Info.Skipped)
	}
	fams := scrape(t, base)
	for reason, want := range map[string]float64{"malformed": 3, "unknown_schema": 2} {
		if got, err := metricValue(fams, "affect_dashboard_skipped_messages_total", map[string]string{"session": session, "reason": reason}); err != nil || got != want {
			t.Errorf("skipped %s = %v (%v), want %v", reason, got, err, want)
		}
	}
}

// TestWithoutJetStream: on a NATS server without JetStream, live sessions
// are shown from the core subscription.
func TestWithoutJetStream(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, base, _ := startDashboard(t, nc)
	const session = "core-1"
	frames := synthFrames(session, 0, 200)
	frames = append(frames, frames[50]) // a duplicate
	for _, f := range frames {
		b, _ := json.Marshal(f)
		if err := nc.Publish(pipeline.FramesSubject(session), b); err != nil {
			t.Fatal(err)
		}
	}
	ev, _ := json.Marshal(pipeline.NewMarkerEvent(session, record.Marker{OnsetMS: 1000, Label: "m"}))
	nc.Publish(pipeline.EventsSubject(session), ev)
	nc.Flush()
	var s snapshot
	waitFor(t, 5*time.Second, "200 frames and the marker", func() bool {
		s = pollSnapshot(t, base, session)
		return s.Info.Frames == 200 && len(s.Markers) == 1
	})
	if s.Info.Skipped.Duplicate != 1 || s.Info.Status != dashboard.StatusLive {
		t.Errorf("info %+v: want 1 duplicate, status live", s.Info)
	}
	if _, code := getStatus(base + "api/sessions/never-seen"); code != 404 {
		t.Errorf("unknown session: %d, want 404", code)
	}
}

func getStatus(url string) (string, int) {
	resp, err := http.Get(url)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}
