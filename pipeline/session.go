package pipeline

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/affectlab/affect/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TokenHeader is the header that carries a session's token on every frame
// message (see SessionStart.Token).
const TokenHeader = "Affect-Session-Token"

// NewSessionToken returns a fresh random session token (128 bits, hex).
func NewSessionToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("affect: no randomness for a session token: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// NewEndKey returns a fresh end key and its hash for SessionStart.EndKeyHash.
func NewEndKey() (key, hash string) {
	key = NewSessionToken()
	return key, endKeyHash(key)
}

func endKeyHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// Rejection reasons: why a message that parsed was not used. They are the
// keys of SessionCounts.Rejected.
const (
	RejectNoStart       = "before_session_start" // a frame or end before the session_start
	RejectBadToken      = "bad_token"            // frame or end without the session's token
	RejectWrongSource   = "wrong_source"         // a frame of another source than session_start's
	RejectFrameRange    = "frame_out_of_range"   // frame number negative or beyond what the session can have produced
	RejectMediaTime     = "media_time_out_of_range"
	RejectProbabilities = "bad_probabilities" // probabilities not finite, outside [0,1] or not summing to ~1
	RejectBox           = "bad_box"           // negative face box
	RejectSecondStart   = "second_session_start"
	RejectSuspectEnd    = "suspect_session_end" // an end whose counts contradict the frames that arrived
)

// Limits of the plausibility checks (see SCHEMA.md, "Validation").
const (
	// MaxMediaMS bounds media time when nothing better is known (about 11.6 days).
	MaxMediaMS = 1e9
	// MaxFrameNumber bounds frame numbers whatever the source (26 days at
	// 30 frames/s); it also bounds the memory of the set of frames seen (8 MB).
	MaxFrameNumber = 1 << 26
	// clockSlackMS is added to the elapsed wall time for real-time sources.
	clockSlackMS = 2000
	// probSumTolerance: the 7 probabilities must sum to 1 within it.
	probSumTolerance = 0.02
)

// SessionCounts are what a SessionState has seen.
type SessionCounts struct {
	// Frames counts distinct frames accepted (valid, first of their number).
	Frames int `json:"frames"`
	// Duplicates counts valid frames whose number was already accepted.
	Duplicates int `json:"duplicates"`
	Markers    int `json:"markers"`
	Events     int `json:"events"`
	// Malformed and UnknownSchema count messages that did not parse.
	Malformed     int `json:"malformed"`
	UnknownSchema int `json:"unknown_schema"`
	// Rejected counts messages that parsed but were not used, by reason
	// (Reject* constants). Nil when none was.
	Rejected map[string]int `json:"rejected,omitempty"`
	// MaxFrame is the highest accepted frame number (-1: none).
	MaxFrame int64 `json:"max_frame"`
}

// RejectedTotal is the sum of Rejected.
func (c SessionCounts) RejectedTotal() int {
	n := 0
	for _, v := range c.Rejected {
		n += v
	}
	return n
}

// RejectedString lists the rejections as "reason N, reason N" (sorted), "" for none.
func (c SessionCounts) RejectedString() string {
	keys := make([]string, 0, len(c.Rejected))
	for k := range c.Rejected {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, c.Rejected[k])
	}
	return strings.Join(parts, ", ")
}

// Verdict says what a message was.
type Verdict int

// Verdicts of SessionState.Handle.
const (
	VerdictSkipped   Verdict = iota // malformed, unknown schema or rejected: not used
	VerdictFrame                    // a new valid frame: use it
	VerdictDuplicate                // a valid frame already accepted: ignore it
	VerdictStart                    // the session_start
	VerdictMarker                   // a marker: use it
	VerdictEnd                      // a session_end with the session's token
)

// Handled is the outcome of one message.
type Handled struct {
	Verdict Verdict
	Frame   record.FrameScore // VerdictFrame, VerdictDuplicate
	Event   Event             // VerdictStart, VerdictMarker, VerdictEnd
	// Err says why a message was skipped (wraps ErrMalformed,
	// ErrUnknownSchema or ErrRejected).
	Err error
	// Reason is the rejection reason (a Reject* constant), or "malformed" /
	// "unknown_schema".
	Reason string
}

// ErrRejected is wrapped when a message parsed but is not plausible for its session.
var ErrRejected = errors.New("rejected message")

// SessionState validates the messages of one session against its
// session_start and keeps the counts every reader needs: the durable
// aggregator (Consumer), the dashboard and `affect report` all read a session
// through it, so the rules (SCHEMA.md, "Validation") are applied once.
// It is safe for concurrent use.
type SessionState struct {
	session string

	lenient bool

	mu     sync.Mutex
	start  *SessionStart
	ends   []SessionEnd // ends with the session's token, in arrival order
	counts SessionCounts
	seen   bitset // accepted frame numbers
}

// NewSessionState returns the state of session before any message.
func NewSessionState(session string) *SessionState {
	return &SessionState{session: session, counts: SessionCounts{MaxFrame: -1}}
}

// NewViewerState returns the state of a viewer (the dashboard) that may
// join a session after its start or watch a server without JetStream:
// frames that arrive before any session_start are checked only with what
// needs no session (finite values in range, probabilities, box) instead of
// being rejected; once the start arrived every check applies.
func NewViewerState(session string) *SessionState {
	s := NewSessionState(session)
	s.lenient = true
	return s
}

// Start returns the session_start payload, nil before it arrived.
func (s *SessionState) Start() *SessionStart {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.start == nil {
		return nil
	}
	st := *s.start
	return &st
}

// Counts returns a copy of the counts.
func (s *SessionState) Counts() SessionCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts
	if c.Rejected != nil {
		m := make(map[string]int, len(c.Rejected))
		for k, v := range c.Rejected {
			m[k] = v
		}
		c.Rejected = m
	}
	return c
}

// EndState is the session's end as far as the frames that arrived confirm it.
type EndState struct {
	// End is the session_end that matches the frames that arrived (the
	// distinct frames accepted are at least its Published and at most its
	// Frames count, and none is beyond its LastFrame); nil when none does (yet).
	End *SessionEnd
	// Claimed is the last session_end with the session's token, matched or not.
	Claimed *SessionEnd
	// Ends counts the session_end messages with the session's token.
	Ends int
	// Suspect counts those that contradict what arrived now.
	Suspect int
}

// End evaluates the session_end messages against the frames accepted so far.
func (s *SessionState) End() EndState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var es EndState
	es.Ends = len(s.ends)
	for i := range s.ends {
		e := s.ends[i]
		es.Claimed = &e
		if s.endMatchesLocked(e) {
			if es.End == nil {
				es.End = &e
			}
		} else if s.counts.Frames > max(e.Frames, e.Published) || (e.LastFrame != nil && s.counts.MaxFrame > *e.LastFrame) {
			es.Suspect++ // more frames arrived than it counts: it cannot be the real end
		}
	}
	return es
}

// endMatchesLocked: the frames that arrived are those the end counts: at
// least the frames the broker acknowledged, at most the frames captured (a
// frame stored whose acknowledgment was lost is counted undelivered by the
// publisher, yet arrives), none beyond its last frame.
func (s *SessionState) endMatchesLocked(e SessionEnd) bool {
	if s.counts.Frames < e.Published || s.counts.Frames > max(e.Frames, e.Published) {
		return false
	}
	return e.LastFrame == nil || s.counts.MaxFrame <= *e.LastFrame
}

func (s *SessionState) rejectLocked(reason string, err error) Handled {
	if s.counts.Rejected == nil {
		s.counts.Rejected = map[string]int{}
	}
	s.counts.Rejected[reason]++
	return Handled{Verdict: VerdictSkipped, Reason: reason, Err: fmt.Errorf("%w: %s: %v", ErrRejected, reason, err)}
}

func (s *SessionState) skipLocked(err error) Handled {
	if errors.Is(err, ErrUnknownSchema) {
		s.counts.UnknownSchema++
		return Handled{Verdict: VerdictSkipped, Reason: "unknown_schema", Err: err}
	}
	s.counts.Malformed++
	return Handled{Verdict: VerdictSkipped, Reason: "malformed", Err: err}
}

// Handle decodes and validates one message of the session: subject, data,
// header (for the token) and the time the broker stored it (zero when
// unknown, e.g. a core NATS message: received now).
func (s *SessionState) Handle(subject string, data []byte, header nats.Header, stored time.Time) Handled {
	if stored.IsZero() {
		stored = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch subject {
	case FramesSubject(s.session):
		f, err := DecodeFrame(data)
		if err == nil && f.Session != s.session {
			err = fmt.Errorf("%w: frame of session %q on %s", ErrMalformed, f.Session, subject)
		}
		if err != nil {
			return s.skipLocked(err)
		}
		start := s.start
		switch {
		case start == nil && !s.lenient:
			return s.rejectLocked(RejectNoStart, fmt.Errorf("frame %d arrived before the session_start", f.Frame))
		case start == nil:
			start = &SessionStart{Source: f.Source}
		case start.Token != "" && header.Get(TokenHeader) != start.Token:
			return s.rejectLocked(RejectBadToken, fmt.Errorf("frame %d does not carry the session's token", f.Frame))
		}
		if reason, err := start.check(&f, stored); err != nil {
			return s.rejectLocked(reason, err)
		}
		if s.seen.has(f.Frame) {
			s.counts.Duplicates++
			return Handled{Verdict: VerdictDuplicate, Frame: f}
		}
		s.seen.set(f.Frame)
		s.counts.Frames++
		s.counts.MaxFrame = max(s.counts.MaxFrame, f.Frame)
		return Handled{Verdict: VerdictFrame, Frame: f}
	case EventsSubject(s.session):
		ev, err := DecodeEvent(data)
		if err == nil && ev.Session != s.session {
			err = fmt.Errorf("%w: event of session %q on %s", ErrMalformed, ev.Session, subject)
		}
		if err != nil {
			return s.skipLocked(err)
		}
		switch ev.Type {
		case EventSessionStart:
			if s.start != nil {
				return s.rejectLocked(RejectSecondStart, errors.New("a second session_start"))
			}
			st := *ev.Start
			s.start = &st
			s.counts.Events++
			return Handled{Verdict: VerdictStart, Event: ev}
		case EventMarker:
			s.counts.Events++
			s.counts.Markers++
			return Handled{Verdict: VerdictMarker, Event: ev}
		default: // EventSessionEnd
			if s.start == nil {
				return s.rejectLocked(RejectNoStart, errors.New("session_end before the session_start"))
			}
			if tok := s.start.Token; tok != "" && ev.End.Token != tok {
				return s.rejectLocked(RejectBadToken, errors.New("session_end without the session's token"))
			}
			if h := s.start.EndKeyHash; h != "" && endKeyHash(ev.End.EndKey) != h {
				return s.rejectLocked(RejectBadToken, errors.New("session_end without the key its session_start announced"))
			}
			s.counts.Events++
			s.ends = append(s.ends, *ev.End)
			return Handled{Verdict: VerdictEnd, Event: ev}
		}
	default:
		return s.skipLocked(fmt.Errorf("%w: unexpected subject %s", ErrMalformed, subject))
	}
}

// check validates a decoded frame against the session's start; stored is
// when the broker stored it. It returns the rejection reason and why.
func (st *SessionStart) check(f *record.FrameScore, stored time.Time) (string, error) {
	if f.Source != st.Source {
		return RejectWrongSource, fmt.Errorf("frame %d is from source %q, the session's is %q", f.Frame, f.Source, st.Source)
	}
	// Media time: finite, >= 0, within what the session can have reached.
	maxMedia := MaxMediaMS
	switch {
	case st.DurationMS > 0:
		maxMedia = st.DurationMS + 1000
	case st.Realtime && st.StartedUnixNano > 0:
		maxMedia = float64(stored.UnixNano()-st.StartedUnixNano)/1e6 + clockSlackMS
	}
	if math.IsNaN(f.MediaMS) || math.IsInf(f.MediaMS, 0) || f.MediaMS < 0 || f.MediaMS > maxMedia {
		return RejectMediaTime, fmt.Errorf("frame %d media time %v ms is not in [0, %.0f]", f.Frame, f.MediaMS, maxMedia)
	}
	// Frame number: >= 0, below the source's frame count, or what its frame
	// rate can have produced by the time the broker stored it (twice the
	// nominal rate: cameras do not keep to it exactly).
	maxFrame := int64(math.MaxInt64)
	switch {
	case st.FrameCount > 0:
		maxFrame = st.FrameCount + st.FrameCount/20 + 30
	case st.FPS > 0 && maxMedia < MaxMediaMS:
		maxFrame = int64(2*st.FPS*maxMedia/1000) + 30
	case st.FPS > 0:
		maxFrame = int64(st.FPS * MaxMediaMS / 1000)
	}
	maxFrame = min(maxFrame, MaxFrameNumber)
	if f.Frame < 0 || f.Frame > maxFrame {
		return RejectFrameRange, fmt.Errorf("frame number %d is not in [0, %d]", f.Frame, maxFrame)
	}
	faces := f.Faces
	if f.Primary != nil {
		faces = append([]record.Face{*f.Primary}, faces...)
	}
	for _, fc := range faces {
		if reason, err := checkFace(&fc); err != nil {
			return reason, fmt.Errorf("frame %d: %w", f.Frame, err)
		}
	}
	return "", nil
}

func checkFace(fc *record.Face) (string, error) {
	bad := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) || x < 0 || x > 1 }
	if bad(fc.Happiness) {
		return RejectProbabilities, fmt.Errorf("happiness %v is not in [0,1]", fc.Happiness)
	}
	sum := 0.0
	for _, p := range fc.Probs {
		if bad(p) {
			return RejectProbabilities, fmt.Errorf("probability %v is not in [0,1]", p)
		}
		sum += p
	}
	// All zero: a score without class probabilities (e.g. a calibrated
	// combination only); otherwise they must be a distribution.
	if sum != 0 && math.Abs(sum-1) > probSumTolerance {
		return RejectProbabilities, fmt.Errorf("probabilities sum to %v, not 1", sum)
	}
	if b := fc.Box; b.X < 0 || b.Y < 0 || b.W < 0 || b.H < 0 {
		return RejectBox, fmt.Errorf("face box %+v has a negative field", b)
	}
	return "", nil
}

// bitset is a growable set of non-negative frame numbers: one bit each, so
// a two-hour session at 30 frames/s needs 27 kB.
type bitset []uint64

func (b bitset) has(i int64) bool {
	w := i / 64
	return i >= 0 && w < int64(len(b)) && b[w]&(1<<(uint64(i)%64)) != 0
}

func (b *bitset) set(i int64) {
	w := i / 64
	for int64(len(*b)) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (uint64(i) % 64)
}

// ReadStored reads every message of session stored in the AFFECT stream
// now, in stream order, through a fresh SessionState (the checks every
// reader applies), and calls fn with each outcome. It returns the state
// (start, counts, end). The error wraps ErrNoSession when the server holds
// nothing of the session. `affect report` reads a session this way; the
// durable aggregator (Consumer) and the dashboard feed their messages
// through a SessionState in the same way.
func ReadStored(ctx context.Context, js jetstream.JetStream, session string, fn func(Handled)) (*SessionState, error) {
	ok, err := SessionExists(ctx, js, session)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q: the NATS server holds no message of it; check the name (the dashboard lists the sessions) and --nats or --data-dir", ErrNoSession, session)
	}
	c, err := js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{FramesSubject(session), EventsSubject(session)},
	})
	if err != nil {
		return nil, fmt.Errorf("reading session %q: %w", session, err)
	}
	it, err := c.Messages()
	if err != nil {
		return nil, fmt.Errorf("reading session %q: %w", session, err)
	}
	defer it.Stop()
	state := NewSessionState(session)
	for {
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		msg, err := it.Next(jetstream.NextContext(nctx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("reading session %q: %w", session, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return nil, fmt.Errorf("reading session %q: %w", session, err)
		}
		fn(state.Handle(msg.Subject(), msg.Data(), msg.Headers(), md.Timestamp))
		if md.NumPending == 0 {
			return state, nil
		}
	}
}
