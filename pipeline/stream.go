package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SummaryStreamName is the stream that keeps the latest Summary per session,
// so a dashboard that connects late can show it at once.
const SummaryStreamName = "AFFECT_SUMMARY"

// DuplicateWindow is the stream's de-duplication window: a frame re-sent with
// the same Nats-Msg-Id within it is stored once. It is longer than any retry.
const DuplicateWindow = 2 * time.Hour

// ErrNoSession is wrapped when a session has no messages on the server.
var ErrNoSession = errors.New("no such session")

// StreamConfig is the configuration of the AFFECT stream: frames and events
// of every session, on disk, kept until deleted.
func StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "affect per-frame scores and session events",
		Subjects:    []string{SubjectPrefix + ".*.frames", SubjectPrefix + ".*.events"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Duplicates:  DuplicateWindow,
	}
}

// SummaryStreamConfig keeps the last summary of each session.
func SummaryStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              SummaryStreamName,
		Description:       "affect latest live summary per session",
		Subjects:          []string{SubjectPrefix + ".*.summary"},
		Storage:           jetstream.FileStorage,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
	}
}

// EnsureStreams creates the AFFECT and AFFECT_SUMMARY streams or updates
// them to the current configuration. It is idempotent. A stream that
// already has the current configuration is left alone (no update request:
// a user allowed only to look streams up, as in deploy/nats-server.conf,
// can start), and an existing stream keeps its replicas (e.g. 3 on a
// cluster), which an update with the default would scale down to 1.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	st, err := ensureStream(ctx, js, StreamConfig())
	if err != nil {
		return nil, fmt.Errorf("create JetStream stream %s: %w (does the server have JetStream enabled?)", StreamName, err)
	}
	if _, err := ensureStream(ctx, js, SummaryStreamConfig()); err != nil {
		return nil, fmt.Errorf("create JetStream stream %s: %w", SummaryStreamName, err)
	}
	return st, nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if st, err := js.Stream(ctx, cfg.Name); err == nil {
		have := st.CachedInfo().Config
		cfg.Replicas = have.Replicas
		if have.Description == cfg.Description && slices.Equal(have.Subjects, cfg.Subjects) && have.Storage == cfg.Storage &&
			have.Retention == cfg.Retention && have.Discard == cfg.Discard && (cfg.Duplicates == 0 || have.Duplicates == cfg.Duplicates) &&
			max(have.MaxMsgsPerSubject, 0) == max(cfg.MaxMsgsPerSubject, 0) { // the server stores "none" (0) as -1
			return st, nil
		}
	}
	return js.CreateOrUpdateStream(ctx, cfg)
}

// FindSessionStart returns the session's first session_start event. The
// error wraps ErrNoSession when the server has no message of the session.
func FindSessionStart(ctx context.Context, js jetstream.JetStream, session string) (SessionStart, error) {
	if err := ValidateSession(session); err != nil {
		return SessionStart{}, err
	}
	st, err := js.Stream(ctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return SessionStart{}, fmt.Errorf("%w: %q: this NATS server has no %s stream (no affect session ever ran on it); start one with 'affect session --session %s' or check --nats", ErrNoSession, session, StreamName, session)
	}
	if err != nil {
		return SessionStart{}, fmt.Errorf("look up stream %s: %w", StreamName, err)
	}
	seq := uint64(1)
	for {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(EventsSubject(session)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return SessionStart{}, fmt.Errorf("%w: %q: no session_start on %s; is the name right, and has 'affect session --session %s' started?", ErrNoSession, session, EventsSubject(session), session)
		}
		if err != nil {
			return SessionStart{}, fmt.Errorf("look up session %q: %w", session, err)
		}
		if ev, err := DecodeEvent(m.Data); err == nil && ev.Type == EventSessionStart {
			return *ev.Start, nil
		}
		seq = m.Sequence + 1
	}
}

// SessionExists reports whether the stream holds any message of the session.
func SessionExists(ctx context.Context, js jetstream.JetStream, session string) (bool, error) {
	if err := ValidateSession(session); err != nil {
		return false, err
	}
	st, err := js.Stream(ctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up stream %s: %w", StreamName, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(SubjectPrefix+"."+session+".>"))
	if err != nil {
		return false, fmt.Errorf("look up session %q: %w", session, err)
	}
	return len(info.State.Subjects) > 0, nil
}

// PublishEvent publishes an event on the session's events subject and waits
// for the broker's acknowledgment. The message ID makes retries safe:
// session_start and session_end are unique per session; a marker's ID is
// its onset, label and condition.
func PublishEvent(ctx context.Context, js jetstream.JetStream, ev Event) error {
	if ev.Schema == 0 {
		ev.Schema = SchemaVersion
	}
	if ev.TimeUnixNano == 0 {
		ev.TimeUnixNano = time.Now().UnixNano()
	}
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	msg := &nats.Msg{Subject: EventsSubject(ev.Session), Data: data}
	_, err = js.PublishMsg(ctx, msg, append(eventRetry(), jetstream.WithMsgID(EventMsgID(ev)), jetstream.WithExpectStream(StreamName))...)
	if err != nil {
		return fmt.Errorf("publish %s event of session %q: %w%s", ev.Type, ev.Session, err, noStreamHint(err))
	}
	return nil
}

// Events ride out a change of the stream's leader: while no server answers
// for the stream (a new leader is being elected after the old one failed),
// an event is sent again every EventRetryWait for up to EventRetryFor, within
// the caller's context (and, when that has no deadline, within the
// JetStream context's default timeout).
const (
	EventRetryWait = 250 * time.Millisecond
	EventRetryFor  = 10 * time.Second
)

func eventRetry() []jetstream.PublishOpt {
	return []jetstream.PublishOpt{jetstream.WithRetryAttempts(int(EventRetryFor / EventRetryWait)), jetstream.WithRetryWait(EventRetryWait)}
}

// noStreamHint says what to check when no server answered for the stream.
func noStreamHint(err error) string {
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		return fmt.Sprintf(" (no server answered for stream %s: check that the stream exists and that a majority of the cluster's servers are up)", StreamName)
	}
	return ""
}

// EventMsgID is an event's JetStream de-duplication ID:
// <session>/session_start, <session>/marker/<onset_ms>/<label>/<condition>,
// and <session>/session_end/<token>/<frames>/<published>: the end's ID
// includes the session's token and its counts, so an end published by
// anyone else (without the token, or with other counts) can never make the
// stream drop the real one as a duplicate.
func EventMsgID(ev Event) string {
	switch {
	case ev.Marker != nil:
		return fmt.Sprintf("%s/marker/%v/%s/%s", ev.Session, ev.Marker.OnsetMS, ev.Marker.Label, ev.Marker.Condition)
	case ev.End != nil:
		return fmt.Sprintf("%s/%s/%s/%d/%d", ev.Session, ev.Type, ev.End.Token, ev.End.Frames, ev.End.Published)
	}
	return ev.Session + "/" + ev.Type
}

// ErrSessionExists is wrapped by StartSession when the name is taken.
var ErrSessionExists = errors.New("session already exists")

// StartSession publishes the session_start event of a new session. A
// session name is used once: the start is published with "expected last
// sequence of the events subject = 0", so the broker itself refuses it
// atomically when the session already has an event (two starts at once: one
// wins, the other gets ErrSessionExists); a name that already has frames is
// refused as well.
func StartSession(ctx context.Context, js jetstream.JetStream, session string, s SessionStart) error {
	taken := fmt.Errorf("%w: %q already has messages in stream %s; choose a new --session name (each recording needs its own)", ErrSessionExists, session, StreamName)
	ok, err := SessionExists(ctx, js, session)
	if err != nil {
		return err
	}
	if ok {
		return taken
	}
	if s.StartedUnixNano == 0 {
		s.StartedUnixNano = time.Now().UnixNano()
	}
	ev := NewStartEvent(session, s)
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("publish session_start: %w", err)
	}
	msg := &nats.Msg{Subject: EventsSubject(session), Data: data}
	_, err = js.PublishMsg(ctx, msg, append(eventRetry(), jetstream.WithMsgID(EventMsgID(ev)), jetstream.WithExpectStream(StreamName),
		jetstream.WithExpectLastSequencePerSubject(0))...)
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return taken
	}
	if err != nil {
		return fmt.Errorf("publish session_start of session %q: %w%s", session, err, noStreamHint(err))
	}
	return nil
}

// PublishSummary publishes a live summary on the session's summary subject.
// The AFFECT_SUMMARY stream keeps the latest one per session for readers
// that connect late (LastSummary).
func PublishSummary(ctx context.Context, js jetstream.JetStream, session string, summary *aggregate.Summary) error {
	if err := ValidateSession(session); err != nil {
		return err
	}
	if summary.Session != "" && summary.Session != session {
		return fmt.Errorf("publish summary: a summary of session %q on the subject of %q", summary.Session, session)
	}
	data, err := json.Marshal(summary)
	if err != nil {
		return fmt.Errorf("publish summary: %w", err)
	}
	if _, err := js.Publish(ctx, SummarySubject(session), data); err != nil {
		return fmt.Errorf("publish summary of session %q: %w", session, err)
	}
	return nil
}

// LastSummary returns the JSON of the latest summary published for session.
// The error wraps ErrNoSession when there is none.
func LastSummary(ctx context.Context, js jetstream.JetStream, session string) ([]byte, error) {
	if err := ValidateSession(session); err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, SummaryStreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: %q: no summary stream on this server yet", ErrNoSession, session)
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", SummaryStreamName, err)
	}
	m, err := st.GetLastMsgForSubject(ctx, SummarySubject(session))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: %q: no summary published yet (is 'affect aggregate --session %s' or 'affect session' running?)", ErrNoSession, session, session)
	}
	if err != nil {
		return nil, fmt.Errorf("last summary of session %q: %w", session, err)
	}
	return m.Data, nil
}
