package dashboard

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/affectlab/affect/pipeline"
)

// The dashboard's HTTP side: routes, the token check, the API and the
// update stream. (dashboard.go holds the server: options, subscriptions,
// lifecycle.)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if n := r.PathValue("name"); n != "" && pipeline.ValidateSession(n) != nil {
				http.Error(w, "no such session: "+pipeline.ValidateSession(n).Error(), http.StatusNotFound)
				return
			}
			b, err := fs.ReadFile(static, name)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			w.Write(b)
		}
	}
	mux.HandleFunc("GET /{$}", page("index.html"))
	mux.HandleFunc("GET /session/{name}", page("session.html"))
	mux.HandleFunc("GET /api/sessions", s.handleList)
	mux.HandleFunc("GET /api/sessions/{name}", s.handleSnapshot)
	mux.HandleFunc("GET /api/sessions/{name}/stream", s.handleStream)
	mux.Handle("GET /metrics", s.m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return s.secure(mux)
}

const tokenCookie = "affect_token"

// secure adds security headers and, with a token, authentication.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if s.o.token == "" || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query().Get("token"); q != "" && s.tokenOK(q) {
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			if r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/session/") {
				u := *r.URL
				qs := u.Query()
				qs.Del("token")
				u.RawQuery = qs.Encode()
				http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther) // the token leaves the address bar
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") && s.tokenOK(strings.TrimPrefix(a, "Bearer ")) {
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(tokenCookie); err == nil && s.tokenOK(c.Value) {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("WWW-Authenticate", `Bearer realm="affect"`)
		http.Error(w, "unauthorized: this dashboard needs its token; open http://HOST:PORT/?token=TOKEN once, or send the header Authorization: Bearer TOKEN", http.StatusUnauthorized)
	})
}

func (s *Server) tokenOK(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(s.o.token)) == 1
}

func writeJSONError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// handleList serves the session list: loaded sessions first (live ones
// first), then the sessions only stored in the stream.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.mu.Lock()
	loaded := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		loaded = append(loaded, sess)
	}
	stored := make(map[string]uint64, len(s.stored))
	for k, v := range s.stored {
		stored[k] = v
	}
	s.mu.Unlock()
	list := make([]info, 0, len(loaded)+len(stored))
	for _, sess := range loaded {
		in := sess.info(now)
		in.StoredMsgs = stored[sess.name]
		delete(stored, sess.name)
		list = append(list, in)
	}
	for name, n := range stored {
		list = append(list, info{Session: name, Status: StatusStored, StoredMsgs: n})
	}
	rank := map[string]int{StatusLive: 0, StatusLoading: 1, StatusIdle: 2, StatusEnded: 3, StatusStored: 4}
	sortInfos(list, rank)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"sessions": list, "jetstream": s.streamAvailable()})
}

func sortInfos(list []info, rank map[string]int) {
	less := func(a, b info) bool {
		if rank[a.Status] != rank[b.Status] {
			return rank[a.Status] < rank[b.Status]
		}
		if a.StartedMS != b.StartedMS {
			return a.StartedMS > b.StartedMS
		}
		return a.Session < b.Session
	}
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && less(list[j], list[j-1]); j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
}

func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	sess, err := s.open(r.Context(), r.PathValue("name"))
	if err != nil {
		writeJSONError(w, http.StatusNotFound, err)
		return
	}
	b, _, _ := sess.update(0, time.Now())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// handleStream sends a session's updates as server-sent events: first the
// full state, then what changed, at most every update interval.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	sess, err := s.open(r.Context(), r.PathValue("name"))
	if err != nil {
		writeJSONError(w, http.StatusNotFound, err)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s.m.AddDashboardClients(1)
	defer s.m.AddDashboardClients(-1)
	sess.mu.Lock()
	sess.clients++
	sess.mu.Unlock()
	defer func() {
		sess.mu.Lock()
		sess.clients--
		sess.viewedAt = time.Now()
		sess.mu.Unlock()
	}()
	write := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: 2000\n\n")) {
		return
	}
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	statusTick := time.NewTicker(2 * time.Second)
	defer statusTick.Stop()
	var since uint64
	var status string
	buf := make([]byte, 0, 64<<10)
	for {
		data, v, changed := sess.update(since, time.Now())
		if data != nil {
			status = sess.currentStatus(time.Now())
			buf = append(buf[:0], "event: update\ndata: "...)
			buf = append(buf, data...)
			buf = append(buf, "\n\n"...)
			if !write(buf) {
				return
			}
			since = v
			// Throttle: at most one update per interval.
			select {
			case <-time.After(s.o.updateInterval):
			case <-r.Context().Done():
				return
			case <-s.done:
				return
			}
			continue
		}
		select {
		case <-changed:
		case <-statusTick.C:
			// A live session turns idle with no message: tell the page.
			if st := sess.currentStatus(time.Now()); st != status {
				b, st := sess.infoUpdate(time.Now())
				status = st
				buf = append(buf[:0], "event: update\ndata: "...)
				buf = append(buf, b...)
				buf = append(buf, "\n\n"...)
				if !write(buf) {
					return
				}
			}
		case <-keepalive.C:
			if !write([]byte(": keepalive\n\n")) {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}
