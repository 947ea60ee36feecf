package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/affectlab/affect/record"
)

// Subjects. Every message of a session travels on one of three subjects under
// affect.<session>; the JetStream stream StreamName holds SubjectAll.
const (
	// SubjectPrefix is the first token of every affect subject.
	SubjectPrefix = "affect"
	// SubjectAll matches every affect subject (the stream's subject filter).
	SubjectAll = SubjectPrefix + ".>"
	// StreamName is the JetStream stream that stores affect messages.
	StreamName = "AFFECT"
)

// FramesSubject is the subject of a session's FrameScore messages.
func FramesSubject(session string) string { return SubjectPrefix + "." + session + ".frames" }

// EventsSubject is the subject of a session's Event messages (start, markers, end).
func EventsSubject(session string) string { return SubjectPrefix + "." + session + ".events" }

// SummarySubject is the subject on which live aggregate summaries are published.
func SummarySubject(session string) string { return SubjectPrefix + "." + session + ".summary" }

// ErrBadSession is wrapped by ValidateSession's errors (record.ErrBadSession).
var ErrBadSession = record.ErrBadSession

// MaxSessionLen is the longest session name accepted.
const MaxSessionLen = record.MaxSessionLen

// ValidateSession checks that name can be one NATS subject token and a
// consumer name: 1 to MaxSessionLen characters from letters, digits, '-' and '_'.
func ValidateSession(name string) error { return record.ValidateSession(name) }

// Event types.
const (
	EventSessionStart = "session_start"
	EventMarker       = "marker"
	EventSessionEnd   = "session_end"
)

// SessionStart opens a session.
type SessionStart struct {
	Participant string `json:"participant,omitempty"`
	// Source describes the frame source (camera index, file or URL).
	Source string `json:"source"`
	// FPS is the nominal frame rate of the source (0 when unknown).
	FPS float64 `json:"fps,omitempty"`
	// StartedUnixNano is the wall-clock time of media time 0: a marker
	// published "now" gets OnsetMS = (now - StartedUnixNano) in ms.
	StartedUnixNano int64 `json:"started_unix_ns"`
	// Token is a random per-session secret (NewSessionToken): every frame
	// carries it in the TokenHeader header and the session_end in its Token
	// field, and both message IDs include it, so that a message from another
	// publisher is rejected and cannot block the real one. Empty: a session
	// started without one (not by affect session); nothing is checked.
	Token string `json:"token,omitempty"`
	// EndKeyHash is the hex SHA-256 of the key the session_end will reveal
	// (SessionEnd.EndKey; NewEndKey makes both). Whoever can read the
	// session_start cannot forge its end: the key is secret until the real
	// end is stored.
	EndKeyHash string `json:"end_key_hash,omitempty"`
	// Realtime is true when frames are produced at the source's pace (a
	// camera, a stream, a file played at its frame rate): frame numbers and
	// media times are then bounded by the wall time since StartedUnixNano.
	Realtime bool `json:"realtime,omitempty"`
	// FrameCount and DurationMS are the source's length when known (files), else 0.
	FrameCount int64   `json:"frame_count,omitempty"`
	DurationMS float64 `json:"duration_ms,omitempty"`
	// Model, ModelVersion and Backend say what scores the frames (see
	// models/README.md; the version is a digest of the embedded model files).
	Model        string `json:"model,omitempty"`
	ModelVersion string `json:"model_version,omitempty"`
	Backend      string `json:"backend,omitempty"`
}

// SessionEnd closes a session. It is published after the publisher is closed,
// so every frame the session delivered precedes it in the stream.
type SessionEnd struct {
	// Frames is the number of frames the session produced (delivered or not).
	Frames int `json:"frames"`
	// Published counts frames the broker acknowledged.
	Published int `json:"published"`
	// Undelivered counts frames that could not be delivered (Frames - Published).
	Undelivered int `json:"undelivered"`
	// EndedUnixNano is the wall-clock end time.
	EndedUnixNano int64 `json:"ended_unix_ns"`
	// Reason is "completed", "interrupted" or an error message.
	Reason string `json:"reason,omitempty"`
	// LastFrame is the highest frame number produced (nil: none, or an
	// older publisher).
	LastFrame *int64 `json:"last_frame,omitempty"`
	// Token is the session's token (SessionStart.Token).
	Token string `json:"token,omitempty"`
	// EndKey is the secret whose SHA-256 the session_start announced.
	EndKey string `json:"end_key,omitempty"`
	// Gaps are the stretches in which the camera or stream delivered no
	// frames (capture.Gaps); the last one is unrecovered when SourceLost.
	Gaps []record.Gap `json:"gaps,omitempty"`
	// SourceLost: the capture ended because the source was lost
	// (capture.ErrSourceLost), not at its end.
	SourceLost bool `json:"source_lost,omitempty"`
}

// Event is the message published on affect.<session>.events. Type says which
// one of Start, Marker and End is set.
type Event struct {
	Schema  int    `json:"schema"`
	Type    string `json:"type"`
	Session string `json:"session"`
	// TimeUnixNano is when the event was published.
	TimeUnixNano int64          `json:"time_unix_ns"`
	Start        *SessionStart  `json:"start,omitempty"`
	Marker       *record.Marker `json:"marker,omitempty"`
	End          *SessionEnd    `json:"end,omitempty"`
}

// NewStartEvent returns a session_start event.
func NewStartEvent(session string, s SessionStart) Event {
	return Event{Schema: SchemaVersion, Type: EventSessionStart, Session: session, TimeUnixNano: time.Now().UnixNano(), Start: &s}
}

// NewMarkerEvent returns a marker event.
func NewMarkerEvent(session string, m record.Marker) Event {
	return Event{Schema: SchemaVersion, Type: EventMarker, Session: session, TimeUnixNano: time.Now().UnixNano(), Marker: &m}
}

// NewEndEvent returns a session_end event.
func NewEndEvent(session string, e SessionEnd) Event {
	return Event{Schema: SchemaVersion, Type: EventSessionEnd, Session: session, TimeUnixNano: time.Now().UnixNano(), End: &e}
}

// Validate checks an event's schema, type, session and payload.
func (e *Event) Validate() error {
	if e.Schema != SchemaVersion {
		return fmt.Errorf("%w: event schema %d, this affect reads %d", ErrUnknownSchema, e.Schema, SchemaVersion)
	}
	if err := ValidateSession(e.Session); err != nil {
		return err
	}
	var ok bool
	switch e.Type {
	case EventSessionStart:
		ok = e.Start != nil
	case EventMarker:
		ok = e.Marker != nil
		if ok {
			if err := e.Marker.Validate(); err != nil {
				return err
			}
		}
	case EventSessionEnd:
		ok = e.End != nil
	default:
		return fmt.Errorf("unknown event type %q", e.Type)
	}
	if !ok {
		return fmt.Errorf("event %q has no %s payload", e.Type, e.Type)
	}
	return nil
}

// ErrUnknownSchema is wrapped when a message's schema version is not SchemaVersion.
var ErrUnknownSchema = errors.New("unknown schema version")

// ErrMalformed is wrapped when a message is not valid JSON of the expected shape.
var ErrMalformed = errors.New("malformed message")

// DecodeFrame decodes a FrameScore message, checking its schema version and
// its session. Errors wrap ErrMalformed or ErrUnknownSchema.
func DecodeFrame(data []byte) (record.FrameScore, error) {
	var f record.FrameScore
	if err := json.Unmarshal(data, &f); err != nil {
		return record.FrameScore{}, fmt.Errorf("%w: frame: %v", ErrMalformed, err)
	}
	if f.Schema != SchemaVersion {
		return record.FrameScore{}, fmt.Errorf("%w: frame schema %d, this affect reads %d", ErrUnknownSchema, f.Schema, SchemaVersion)
	}
	if err := ValidateSession(f.Session); err != nil {
		return record.FrameScore{}, fmt.Errorf("%w: frame: %v", ErrMalformed, err)
	}
	if f.FaceFound && f.Primary == nil {
		return record.FrameScore{}, fmt.Errorf("%w: frame %d has face_found but no primary face", ErrMalformed, f.Frame)
	}
	if h, ok := f.Happiness(); ok && (math.IsNaN(h) || h < 0 || h > 1) {
		return record.FrameScore{}, fmt.Errorf("%w: frame %d happiness %v is not in [0,1]", ErrMalformed, f.Frame, h)
	}
	faces := f.Faces
	if f.Primary != nil {
		faces = append([]record.Face{*f.Primary}, faces...)
	}
	for _, fc := range faces {
		if q := fc.Quality; q != nil {
			for _, a := range []struct {
				name string
				v    *float64
			}{{"yaw", q.Yaw}, {"pitch", q.Pitch}, {"roll", q.Roll}} {
				if a.v != nil && !(*a.v >= -180 && *a.v <= 180) {
					return record.FrameScore{}, fmt.Errorf("%w: frame %d %s %v is not an angle in [-180,180] degrees", ErrMalformed, f.Frame, a.name, *a.v)
				}
			}
		}
	}
	return f, nil
}

// DecodeEvent decodes and validates an Event. Errors wrap ErrMalformed or ErrUnknownSchema.
func DecodeEvent(data []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return Event{}, fmt.Errorf("%w: event: %v", ErrMalformed, err)
	}
	if err := e.Validate(); err != nil {
		if errors.Is(err, ErrUnknownSchema) {
			return Event{}, err
		}
		return Event{}, fmt.Errorf("%w: event: %v", ErrMalformed, err)
	}
	return e, nil
}
