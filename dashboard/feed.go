package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/metrics"
	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
)

// liveStoredAge: a frame stored in the stream less than this ago is live
// traffic (its capture-to-dashboard latency is measured), not a replay.
const liveStoredAge = 5 * time.Second

// subjectSession returns the session token of affect.<session>.<kind>.
func subjectSession(subject string) (name, kind string, ok bool) {
	parts := strings.Split(subject, ".")
	if len(parts) != 3 || parts[0] != pipeline.SubjectPrefix {
		return "", "", false
	}
	if pipeline.ValidateSession(parts[1]) != nil {
		return "", "", false
	}
	return parts[1], parts[2], true
}

func (s *Server) streamAvailable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hasStream
}

// ensure returns the loaded session name, creating it (and its stream
// consumer when the stream exists) if needed. fedByStream reports whether a
// stream consumer feeds it.
func (s *Server) ensure(name string) (sess *session, fedByStream bool) {
	s.mu.Lock()
	sess = s.sessions[name]
	if sess != nil {
		_, fed := s.consumers[name]
		s.mu.Unlock()
		return sess, fed
	}
	select {
	case <-s.done:
		s.mu.Unlock()
		return newSession(name, &s.o), false // closed: a throwaway
	default:
	}
	s.evictLocked()
	sess = newSession(name, &s.o)
	s.sessions[name] = sess
	s.m.SetDashboardSessions(len(s.sessions))
	hasStream := s.hasStream
	s.mu.Unlock()
	if hasStream {
		fedByStream = s.follow(sess) == nil
	}
	return sess, fedByStream
}

// evictLocked drops the least recently active session no page shows when
// the dashboard holds WithMaxSessions sessions.
func (s *Server) evictLocked() {
	if len(s.sessions) < s.o.maxSessions {
		return
	}
	var victim *session
	var victimAt time.Time
	for _, sess := range s.sessions {
		sess.mu.Lock()
		at := sess.liveAt
		if sess.viewedAt.After(at) {
			at = sess.viewedAt
		}
		busy := sess.clients > 0
		sess.mu.Unlock()
		if busy {
			continue
		}
		if victim == nil || at.Before(victimAt) {
			victim, victimAt = sess, at
		}
	}
	if victim == nil {
		s.log.Warn("dashboard: every held session is open in a page; holding one more than the limit", "limit", s.o.maxSessions)
		return
	}
	if cc, ok := s.consumers[victim.name]; ok {
		cc.Stop()
		delete(s.consumers, victim.name)
	}
	delete(s.sessions, victim.name)
	s.log.Debug("dashboard: dropped session from memory", "session", victim.name)
}

// follow starts an ordered consumer reading the session's frames and events
// from the start of the stream, and loads its latest stored summary.
func (s *Server) follow(sess *session) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := sess.name
	st, err := s.js.Stream(ctx, pipeline.StreamName)
	if err != nil {
		return err
	}
	var total uint64
	if si, err := st.Info(ctx, jetstream.WithSubjectFilter(pipeline.SubjectPrefix+"."+name+".>")); err == nil {
		for _, n := range si.State.Subjects {
			total += n
		}
	}
	sess.setLoading(total > 0, total)
	sess.resetChecks() // the stream gives the session again from its start
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{pipeline.FramesSubject(name), pipeline.EventsSubject(name)},
	})
	if err != nil {
		sess.setLoading(false, 0)
		s.log.Warn("dashboard: cannot read session from the stream; showing live messages only", "session", name, "err", err)
		return err
	}
	cc, err := c.Consume(func(msg jetstream.Msg) { s.onStreamMsg(sess, msg) },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			s.log.Debug("dashboard: consumer", "session", name, "err", err)
		}))
	if err != nil {
		sess.setLoading(false, 0)
		s.log.Warn("dashboard: cannot read session from the stream; showing live messages only", "session", name, "err", err)
		return err
	}
	s.mu.Lock()
	if old, ok := s.consumers[name]; ok {
		old.Stop()
	}
	s.consumers[name] = cc
	s.mu.Unlock()
	if sst, err := s.js.Stream(ctx, pipeline.SummaryStreamName); err == nil {
		if m, err := sst.GetLastMsgForSubject(ctx, pipeline.SummarySubject(name)); err == nil {
			s.applySummary(sess, m.Data, true)
		}
	}
	return nil
}

// onStreamMsg handles a frame or event read from the stream.
func (s *Server) onStreamMsg(sess *session, msg jetstream.Msg) {
	now := time.Now()
	var pending uint64
	var stored time.Time
	if md, err := msg.Metadata(); err == nil {
		pending, stored = md.NumPending, md.Timestamp
	}
	live := !stored.IsZero() && now.Sub(stored) < liveStoredAge
	s.apply(sess, msg.Subject(), msg.Data(), msg.Headers(), stored, live, now)
	sess.setLoading(pending > 0, pending)
	s.m.SetConsumerLag(sess.name, "dashboard", pending)
}

// apply checks a frame or event with the session's state (the checks the
// aggregator and the report apply too) and shows what passes.
func (s *Server) apply(sess *session, subject string, data []byte, header nats.Header, stored time.Time, live bool, now time.Time) {
	h := sess.checker().Handle(subject, data, header, stored)
	switch h.Verdict {
	case pipeline.VerdictSkipped, pipeline.VerdictDuplicate:
		reason := h.Reason
		switch {
		case h.Verdict == pipeline.VerdictDuplicate:
			reason = metrics.SkipDuplicate
		case errors.Is(h.Err, pipeline.ErrUnknownSchema):
			reason = metrics.SkipUnknownSchema
		case errors.Is(h.Err, pipeline.ErrMalformed):
			reason = metrics.SkipMalformed
		}
		sess.skip(reason)
		s.m.DashboardSkipped(sess.name, reason)
		s.log.Debug("dashboard: skipped message", "session", sess.name, "reason", reason, "err", h.Err)
		if live && h.Verdict == pipeline.VerdictDuplicate {
			sess.markLive(now)
		}
	case pipeline.VerdictFrame:
		f := h.Frame
		if reason := sess.addFrame(&f, live, now); reason != "" {
			s.m.DashboardSkipped(sess.name, reason)
			return
		}
		var captured int64
		if live {
			captured = f.CaptureUnixNano
		}
		s.m.DashboardFrame(sess.name, f.FaceFound, captured)
	default:
		sess.addEvent(&h.Event)
	}
}

// applySummary decodes and stores a summary. stored marks the one read from
// the summary stream when a session is opened: it never replaces a live one,
// and a bad one is not counted (the live subscription counted it).
func (s *Server) applySummary(sess *session, data []byte, stored bool) {
	var sum aggregate.Summary
	err := json.Unmarshal(data, &sum)
	reason := metrics.SkipMalformed
	switch {
	case err != nil:
	case sum.Schema != aggregate.SummarySchemaVersion:
		reason = metrics.SkipUnknownSchema
		err = fmt.Errorf("summary schema %d, this dashboard reads %d", sum.Schema, aggregate.SummarySchemaVersion)
	case sum.Session != "" && sum.Session != sess.name:
		err = fmt.Errorf("summary of session %q on the subject of %q", sum.Session, sess.name)
	}
	if err == nil {
		err = sess.setSummary(&sum, stored)
	}
	if err != nil && stored {
		s.log.Debug("dashboard: skipped stored summary", "session", sess.name, "err", err)
		return
	}
	if err != nil {
		sess.skip(reason)
		s.m.DashboardSkipped(sess.name, reason)
		s.log.Debug("dashboard: skipped summary", "session", sess.name, "err", err)
	}
}

// onCoreFrame: live frames. They make a session known and live; they feed
// it only when no stream consumer does.
func (s *Server) onCoreFrame(msg *nats.Msg) {
	name, _, ok := subjectSession(msg.Subject)
	if !ok {
		s.m.DashboardSkipped("", metrics.SkipMalformed)
		return
	}
	now := time.Now()
	sess, fed := s.ensure(name)
	if fed {
		sess.markLive(now)
		return
	}
	s.apply(sess, msg.Subject, msg.Data, msg.Header, time.Time{}, true, now)
}

func (s *Server) onCoreEvent(msg *nats.Msg) {
	name, _, ok := subjectSession(msg.Subject)
	if !ok {
		s.m.DashboardSkipped("", metrics.SkipMalformed)
		return
	}
	sess, fed := s.ensure(name)
	if fed {
		return
	}
	s.apply(sess, msg.Subject, msg.Data, msg.Header, time.Time{}, false, time.Now())
}

func (s *Server) onSummary(msg *nats.Msg) {
	name, _, ok := subjectSession(msg.Subject)
	if !ok {
		s.m.DashboardSkipped("", metrics.SkipMalformed)
		return
	}
	sess, _ := s.ensure(name)
	s.applySummary(sess, msg.Data, false)
}

// open returns a session for a page: loaded, or read back from the stream.
func (s *Server) open(ctx context.Context, name string) (*session, error) {
	if err := pipeline.ValidateSession(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	sess := s.sessions[name]
	_, stored := s.stored[name]
	hasStream := s.hasStream
	s.mu.Unlock()
	if sess == nil && !stored {
		if !hasStream {
			return nil, fmt.Errorf("%w: %q: no message of it has arrived, and the NATS server has no %s stream to read it from", pipeline.ErrNoSession, name, pipeline.StreamName)
		}
		ok, err := pipeline.SessionExists(ctx, s.js, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: %q is neither live nor stored on this NATS server", pipeline.ErrNoSession, name)
		}
	}
	if sess == nil {
		sess, _ = s.ensure(name)
	}
	sess.mu.Lock()
	sess.viewedAt = time.Now()
	sess.mu.Unlock()
	return sess, nil
}

func (s *session) markLive(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.status(now)
	s.liveAt = now
	if was != StatusLive {
		s.bump()
	}
}

func (s *Server) listLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.listInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.refreshStored()
		}
	}
}

// refreshStored lists the sessions in the stream, and starts stream
// consumers for loaded sessions once the stream appears.
func (s *Server) refreshStored() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, pipeline.StreamName)
	if err != nil {
		if !errors.Is(err, jetstream.ErrStreamNotFound) && !errors.Is(err, jetstream.ErrJetStreamNotEnabled) && !errors.Is(err, context.DeadlineExceeded) {
			s.log.Debug("dashboard: looking up the stream", "err", err)
		}
		return
	}
	si, err := st.Info(ctx, jetstream.WithSubjectFilter(pipeline.SubjectAll))
	if err != nil {
		s.log.Debug("dashboard: listing sessions", "err", err)
		return
	}
	stored := map[string]uint64{}
	for subj, n := range si.State.Subjects {
		if name, _, ok := subjectSession(subj); ok {
			stored[name] += n
		}
	}
	s.mu.Lock()
	s.stored = stored
	first := !s.hasStream
	s.hasStream = true
	var orphans []*session
	if first {
		for name, sess := range s.sessions {
			if _, ok := s.consumers[name]; !ok {
				orphans = append(orphans, sess)
			}
		}
	}
	s.mu.Unlock()
	for _, sess := range orphans {
		s.follow(sess) // replays from the start; already seen frames are skipped as duplicates
	}
}
