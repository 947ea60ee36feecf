package dashboard

import (
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/record"
)

// Session states shown on the pages.
const (
	StatusLive    = "live"    // frames arrived in the last LiveTimeout
	StatusIdle    = "idle"    // started, no frame lately, no end yet
	StatusEnded   = "ended"   // session_end received
	StatusStored  = "stored"  // in the JetStream stream, not loaded
	StatusLoading = "loading" // being read back from the stream
)

// LiveTimeout is how long after its last live frame a session counts as live.
const LiveTimeout = 10 * time.Second

// maxMediaMS bounds accepted media times (about 11.5 days): a frame beyond it
// (a wall-clock timestamp sent as media time) would ruin the timeline's
// resolution, so it is skipped and counted.
const maxMediaMS = 1e9

// maxSources bounds the sources per session whose frames are de-duplicated.
const maxSources = 64

// lastFrame is the most recent frame of a session (by media time).
type lastFrame struct {
	Frame     int64   `json:"frame"`
	MediaMS   float64 `json:"media_ms"`
	Face      bool    `json:"face"`
	Happiness float64 `json:"happiness,omitempty"`
	NFaces    int     `json:"n_faces"`
	Error     string  `json:"error,omitempty"`
}

// skipCounts counts messages a session did not use.
type skipCounts struct {
	Malformed     int `json:"malformed"`
	UnknownSchema int `json:"unknown_schema"`
	Duplicate     int `json:"duplicate"`
	OutOfRange    int `json:"out_of_range"`
}

// session is one session's bounded state.
type session struct {
	name string

	mu          sync.Mutex
	ver         uint64        // bumped on every change
	changed     chan struct{} // closed and replaced on every change
	participant string
	source      string
	fps         float64
	startedNS   int64
	started     bool
	end         *pipeline.SessionEnd
	frames      int64
	faceFrames  int64
	errFrames   int64
	last        *lastFrame
	overview    *pyramid
	recent      *recent
	markers     []record.Marker
	markerSet   map[record.Marker]bool
	markersVer  uint64
	markersLost int
	summary     []byte // latest aggregate.Summary, JSON
	summaryVer  uint64
	seen        map[string]*seenFrames
	skipped     skipCounts
	liveAt      time.Time // last frame received live (not replayed)
	viewedAt    time.Time
	clients     int
	loading     bool
	pending     uint64 // messages still to read back from the stream
	maxMarkers  int
}

func newSession(name string, o *options) *session {
	return &session{
		name:       name,
		ver:        1, // 0 means "nothing sent yet" to update
		changed:    make(chan struct{}),
		overview:   newPyramid(o.baseBinMS, o.maxPoints),
		recent:     newRecent(o.recentBinMS, int(math.Ceil(float64(o.recentWindow.Milliseconds())/o.recentBinMS))),
		markerSet:  map[record.Marker]bool{},
		seen:       map[string]*seenFrames{},
		maxMarkers: o.maxMarkers,
	}
}

// bump records a change; the caller holds mu.
func (s *session) bump() uint64 {
	s.ver++
	close(s.changed)
	s.changed = make(chan struct{})
	return s.ver
}

// addFrame adds a decoded frame and reports why it was skipped ("" if used).
func (s *session) addFrame(f *record.FrameScore, live bool, now time.Time) (skip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if live {
		s.liveAt = now
	}
	if math.IsNaN(f.MediaMS) || f.MediaMS < 0 || f.MediaMS > maxMediaMS {
		s.skipped.OutOfRange++
		return "out_of_range"
	}
	sf := s.seen[f.Source]
	if sf == nil && len(s.seen) < maxSources {
		sf = newSeenFrames()
		s.seen[f.Source] = sf
	}
	if sf != nil {
		dup, old := sf.check(f.Frame)
		switch {
		case dup:
			s.skipped.Duplicate++
			return "duplicate"
		case old:
			s.skipped.OutOfRange++
			return "out_of_range"
		}
	}
	ver := s.bump()
	h, face := f.Happiness()
	s.frames++
	if face {
		s.faceFrames++
	}
	if f.Error != "" {
		s.errFrames++
	}
	if s.participant == "" {
		s.participant = f.Participant
	}
	if s.source == "" {
		s.source = f.Source
	}
	if s.last == nil || f.MediaMS >= s.last.MediaMS {
		s.last = &lastFrame{Frame: f.Frame, MediaMS: f.MediaMS, Face: face, NFaces: f.NFaces, Error: f.Error}
		if face {
			s.last.Happiness = math.Round(h*1e4) / 1e4
		}
	}
	s.overview.add(f.MediaMS, face, h, ver)
	s.recent.add(f.MediaMS, face, h, ver)
	return ""
}

// addEvent applies a session event.
func (s *session) addEvent(e *pipeline.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Type {
	case pipeline.EventSessionStart:
		st := e.Start
		s.started = true
		if st.Participant != "" {
			s.participant = st.Participant
		}
		s.source, s.fps, s.startedNS = st.Source, st.FPS, st.StartedUnixNano
		s.bump()
	case pipeline.EventSessionEnd:
		end := *e.End
		s.end = &end
		s.bump()
	case pipeline.EventMarker:
		m := *e.Marker
		if s.markerSet[m] {
			return
		}
		if len(s.markers) >= s.maxMarkers {
			s.markersLost++
			s.markersVer = s.bump()
			return
		}
		s.markerSet[m] = true
		s.markers = append(s.markers, m)
		s.markersVer = s.bump()
	}
}

// setSummary stores the latest summary (already validated). With onlyFirst
// it is stored only when the session has none yet (a stored summary read
// while live ones may already be arriving).
func (s *session) setSummary(sum *aggregate.Summary, onlyFirst bool) error {
	data, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if onlyFirst && s.summary != nil {
		return nil
	}
	if s.participant == "" {
		s.participant = sum.Participant
	}
	s.summary = data
	s.summaryVer = s.bump()
	return nil
}

func (s *session) skip(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch reason {
	case "malformed":
		s.skipped.Malformed++
	case "unknown_schema":
		s.skipped.UnknownSchema++
	}
	s.bump()
}

func (s *session) setLoading(loading bool, pending uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loading != loading || s.pending != pending {
		s.loading, s.pending = loading, pending
		s.bump()
	}
}

// status is the session's state; the caller holds mu.
func (s *session) status(now time.Time) string {
	switch {
	case s.end != nil:
		return StatusEnded
	case !s.liveAt.IsZero() && now.Sub(s.liveAt) < LiveTimeout:
		return StatusLive
	case s.loading:
		return StatusLoading
	}
	return StatusIdle
}

// info is the session's header, shown on both pages.
type info struct {
	Session     string               `json:"session"`
	Participant string               `json:"participant,omitempty"`
	Source      string               `json:"source,omitempty"`
	FPS         float64              `json:"fps,omitempty"`
	StartedMS   int64                `json:"started_unix_ms,omitempty"`
	Status      string               `json:"status"`
	Frames      int64                `json:"frames"`
	FaceFrames  int64                `json:"face_frames"`
	ErrorFrames int64                `json:"error_frames"`
	Last        *lastFrame           `json:"last,omitempty"`
	End         *pipeline.SessionEnd `json:"end,omitempty"`
	Markers     int                  `json:"markers"`
	MarkersLost int                  `json:"markers_lost,omitempty"`
	Skipped     skipCounts           `json:"skipped"`
	Pending     uint64               `json:"pending,omitempty"`
	Overall     *aggregate.Stats     `json:"overall,omitempty"`
	Clients     int                  `json:"clients"`
	Loaded      bool                 `json:"loaded"`
	StoredMsgs  uint64               `json:"stored_messages,omitempty"`
}

func (s *session) infoLocked(now time.Time) info {
	in := info{
		Session: s.name, Participant: s.participant, Source: s.source, FPS: s.fps,
		Status: s.status(now), Frames: s.frames, FaceFrames: s.faceFrames, ErrorFrames: s.errFrames,
		Last: s.last, End: s.end, Markers: len(s.markers), MarkersLost: s.markersLost,
		Skipped: s.skipped, Pending: s.pending, Clients: s.clients, Loaded: true,
	}
	if s.startedNS != 0 {
		in.StartedMS = s.startedNS / 1e6
	}
	return in
}

func (s *session) info(now time.Time) info {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.infoLocked(now)
	if s.summary != nil {
		var sum struct {
			Overall aggregate.Stats `json:"overall"`
		}
		if json.Unmarshal(s.summary, &sum) == nil {
			in.Overall = &sum.Overall
		}
	}
	return in
}

// update returns what changed after version since as one JSON object
// (everything when since is 0), the version it brings the page to, and a
// channel closed at the next change.
//
//	{"full":bool, "v":version, "info":{...},
//	 "ov":{"w":bin ms,"n":bins,"b":[[i,n,nf,mean,min,max],...]},   whole session
//	 "rc":{"w":bin ms,"first":k,"b":[[k,n,nf,mean,min,max],...]}, last minute
//	 "markers":[...], "summary":{...}}                              when changed
//
// A bin without face frames is [i,n,0]. The page keeps the bins it was sent
// and replaces those it is sent again; it drops overview bins at or beyond
// "n" and recent bins before "first".
func (s *session) update(since uint64, now time.Time) ([]byte, uint64, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if since > s.ver {
		since = 0 // a page from before a reload of the session: start over
	}
	ch := s.changed
	if since == s.ver {
		return nil, since, ch
	}
	dst := make([]byte, 0, 4096)
	dst = append(dst, `{"full":`...)
	dst = strconv.AppendBool(dst, since == 0)
	dst = append(dst, `,"v":`...)
	dst = strconv.AppendUint(dst, s.ver, 10)
	dst = append(dst, `,"info":`...)
	in, _ := json.Marshal(s.infoLocked(now))
	dst = append(dst, in...)
	dst = append(dst, `,"ov":`...)
	dst = s.overview.appendJSON(dst, since)
	dst = append(dst, `,"rc":`...)
	dst = s.recent.appendJSON(dst, since)
	if s.markersVer > since || since == 0 {
		dst = append(dst, `,"markers":`...)
		ms := s.markers
		if ms == nil {
			ms = []record.Marker{}
		}
		b, _ := json.Marshal(ms)
		dst = append(dst, b...)
	}
	if s.summary != nil && (s.summaryVer > since || since == 0) {
		dst = append(dst, `,"summary":`...)
		dst = append(dst, s.summary...)
	}
	dst = append(dst, '}')
	return dst, s.ver, ch
}

// infoUpdate returns {"v":version,"info":{...}}: the header alone, sent
// when only the time-dependent status changed.
func (s *session) infoUpdate(now time.Time) ([]byte, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.infoLocked(now)
	b, _ := json.Marshal(map[string]any{"v": s.ver, "info": in})
	return b, in.Status
}

// currentStatus returns the session's status now.
func (s *session) currentStatus(now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status(now)
}

// memBytes estimates the bytes the session holds: it is bounded by the
// options (bins, recent window, markers, sources) plus the latest summary.
func (s *session) memBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	const binSize = 32
	n := cap(s.overview.bins)*binSize + len(s.recent.ring)*(binSize+8)
	n += len(s.seen) * (seenWindow/8 + 64)
	n += cap(s.markers) * 64
	for m := range s.markerSet {
		n += 64 + len(m.Label) + len(m.Condition)
	}
	n += cap(s.summary)
	return n
}
