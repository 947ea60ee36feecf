package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/affectlab/affect/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Sink receives what a Consumer reads. *aggregate.Aggregator is one.
type Sink interface {
	Add(record.FrameScore)
	AddMarker(record.Marker)
}

// ConsumerStats are a Consumer's counters. Messages are counted once per
// stream sequence, also across restarts and redeliveries (see Consumer).
type ConsumerStats struct {
	// SessionCounts are the session's checks: distinct frames, duplicates,
	// markers, events, malformed, unknown-schema and rejected messages.
	SessionCounts
	// Redelivered counts messages delivered again by the broker (a lost
	// acknowledgment); they are acknowledged and not processed again.
	Redelivered int `json:"redelivered"`
	// Replayed counts messages re-read from the stream at start (already
	// delivered to this durable consumer before a restart).
	Replayed int `json:"replayed"`
	// LastSeq is the last stream sequence processed.
	LastSeq uint64 `json:"last_seq"`
}

// ConsumerOption configures a Consumer.
type ConsumerOption func(*Consumer) error

// WithConsumerName names the durable consumer (default "aggregate"); the
// JetStream durable is "affect_<session>_<name>". Two consumers with
// different names each see every message.
func WithConsumerName(name string) ConsumerOption {
	return func(c *Consumer) error {
		if err := ValidateSession(name); err != nil {
			return fmt.Errorf("consumer name: %w", err)
		}
		c.name = name
		return nil
	}
}

// WithWaitForSession makes Run wait for the session's first message instead
// of failing with ErrNoSession.
func WithWaitForSession(wait bool) ConsumerOption {
	return func(c *Consumer) error { c.wait = wait; return nil }
}

// WithStopAtEnd makes Run return nil after the session_end event (default true).
func WithStopAtEnd(stop bool) ConsumerOption {
	return func(c *Consumer) error { c.stopAtEnd = stop; return nil }
}

// WithIdleTimeout makes Run return nil when no message arrived for d,
// whether or not a session_end came: for a store no publisher can add to
// any more (a crashed session read from its data directory). 0: never.
func WithIdleTimeout(d time.Duration) ConsumerOption {
	return func(c *Consumer) error {
		if d < 0 {
			return fmt.Errorf("idle timeout %v must be >= 0", d)
		}
		c.idle = d
		return nil
	}
}

// WithEndGrace is how long Run waits for the missing frames after a
// session_end with the session's token whose counts the frames that arrived
// do not match yet (default 30s): no message for that long, and Run returns
// nil with what exists (Idle says so). 0: wait forever.
func WithEndGrace(d time.Duration) ConsumerOption {
	return func(c *Consumer) error {
		if d < 0 {
			return fmt.Errorf("end grace %v must be >= 0", d)
		}
		c.endGrace = d
		return nil
	}
}

// WithOnEvent calls fn for every valid event, after the Sink got it and
// before it is acknowledged.
func WithOnEvent(fn func(Event)) ConsumerOption {
	return func(c *Consumer) error { c.onEvent = fn; return nil }
}

// WithOnFrame calls fn for every new valid frame after the Sink got it; not
// for a redelivery, nor for a frame re-read at start (see Consumer).
func WithOnFrame(fn func(record.FrameScore)) ConsumerOption {
	return func(c *Consumer) error { c.onFrame = fn; return nil }
}

// WithConsumerLogger sets the logger (default slog.Default()).
func WithConsumerLogger(l *slog.Logger) ConsumerOption {
	return func(c *Consumer) error {
		if l == nil {
			return errors.New("consumer logger is nil")
		}
		c.log = l
		return nil
	}
}

// Consumer reads a session's frames and events from the AFFECT stream with
// a durable JetStream consumer and explicit acks, and feeds a Sink.
// Malformed messages and unknown schema versions are skipped, counted and
// acknowledged; the consumer keeps going.
//
// Restarts: the Sink lives in memory, so a new process must see the whole
// session again. At start, Run re-reads from the stream (with an ordered
// consumer) every message the durable consumer had already been delivered,
// then continues with the durable consumer, skipping (and acking) what it
// re-read. Each stream message is thus processed exactly once per process,
// and the final state equals an undisturbed run's.
type Consumer struct {
	js        jetstream.JetStream
	session   string
	sink      Sink
	name      string
	wait      bool
	stopAtEnd bool
	idle      time.Duration
	endGrace  time.Duration
	onEvent   func(Event)
	onFrame   func(record.FrameScore)
	log       *slog.Logger

	state *SessionState

	mu       sync.Mutex
	stats    ConsumerStats
	idleNote string

	// afterProcess, for tests, runs after a message is processed and before its ack.
	afterProcess func(seq uint64)
	// skipAck, for tests, leaves a message unacknowledged; ackWait (default
	// 30s) is when the broker redelivers it.
	skipAck func(seq uint64) bool
	ackWait time.Duration
}

// NewConsumer returns a consumer of session that feeds sink.
func NewConsumer(js jetstream.JetStream, session string, sink Sink, opts ...ConsumerOption) (*Consumer, error) {
	if err := ValidateSession(session); err != nil {
		return nil, err
	}
	if js == nil || sink == nil {
		return nil, errors.New("consumer: nil JetStream or sink")
	}
	c := &Consumer{js: js, session: session, sink: sink, name: "aggregate", stopAtEnd: true, endGrace: 30 * time.Second,
		log: slog.Default(), state: NewSessionState(session)}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, fmt.Errorf("consumer: %w", err)
		}
	}
	return c, nil
}

// Durable is the JetStream durable consumer name.
func (c *Consumer) Durable() string { return "affect_" + c.session + "_" + c.name }

// Stats returns the counters.
func (c *Consumer) Stats() ConsumerStats {
	c.mu.Lock()
	st := c.stats
	c.mu.Unlock()
	st.SessionCounts = c.state.Counts()
	return st
}

// State is the session's validation state (start, counts, ends).
func (c *Consumer) State() *SessionState { return c.state }

// Start returns the session_start event's payload, nil before it arrived.
func (c *Consumer) Start() *SessionStart { return c.state.Start() }

// End returns the session's end as far as the frames confirm it.
func (c *Consumer) End() EndState { return c.state.End() }

// Idle says why Run stopped without a matching session_end ("" otherwise).
func (c *Consumer) Idle() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idleNote
}

// finished reports whether Run may stop: a session_end matches the frames.
func (c *Consumer) finished() bool { return c.stopAtEnd && c.state.End().End != nil }

// idleFor returns how long Run waits for the next message before it gives
// up (0: forever), and why.
func (c *Consumer) idleFor() (time.Duration, string) {
	es := c.state.End()
	if c.idle > 0 && (c.endGrace == 0 || es.Ends == 0 || c.idle < c.endGrace) {
		return c.idle, fmt.Sprintf("no message for %v and no session_end matching the frames: the stream holds no more of the session (a crashed or unfinished session); finished with what exists", c.idle)
	}
	if es.Ends > 0 && c.endGrace > 0 {
		e := es.Claimed
		return c.endGrace, fmt.Sprintf("the session_end counts %d published frames but %d arrived, and no message came for %v; finished with what exists",
			e.Published, c.state.Counts().Frames, c.endGrace)
	}
	return 0, ""
}

func (c *Consumer) filters() []string {
	return []string{FramesSubject(c.session), EventsSubject(c.session)}
}

// Run consumes until ctx ends (returning ctx.Err()) or, with WithStopAtEnd,
// until session_end was processed (returning nil). The error wraps
// ErrNoSession when the session has no message and WithWaitForSession is off.
func (c *Consumer) Run(ctx context.Context) error {
	if err := c.awaitSession(ctx); err != nil {
		return err
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, StreamName, jetstream.ConsumerConfig{
		Durable:        c.Durable(),
		Description:    "affect aggregate of session " + c.session,
		FilterSubjects: c.filters(),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        cmp.Or(c.ackWait, 30*time.Second),
		MaxAckPending:  4096,
	})
	if err != nil {
		return fmt.Errorf("create durable consumer %s: %w", c.Durable(), err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("durable consumer %s: %w", c.Durable(), err)
	}
	replayTo := info.Delivered.Stream
	if replayTo > 0 {
		if err := c.replay(ctx, replayTo); err != nil {
			return err
		}
		if c.finished() {
			return nil
		}
	}
	iter, err := cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.Durable(), err)
	}
	defer iter.Stop()
	for {
		nctx, cancel := ctx, context.CancelFunc(func() {})
		wait, why := c.idleFor()
		if wait > 0 {
			nctx, cancel = context.WithTimeout(ctx, wait)
		}
		msg, err := iter.Next(jetstream.NextContext(nctx))
		timedOut := nctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if timedOut {
				c.mu.Lock()
				c.idleNote = why
				c.mu.Unlock()
				c.log.Warn("consumer: "+why, "session", c.session)
				return nil
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, nats.ErrConnectionClosed) {
				return fmt.Errorf("consume %s: %w", c.Durable(), err)
			}
			c.log.Warn("consumer: waiting for messages", "err", err)
			select { // do not spin on a persistent error
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		meta, err := msg.Metadata()
		if err != nil {
			c.log.Warn("consumer: message without metadata", "err", err)
			_ = msg.Ack()
			continue
		}
		seq := meta.Sequence.Stream
		if seq <= replayTo {
			// Already processed during replay.
			_ = msg.Ack()
			continue
		}
		c.mu.Lock()
		again := seq <= c.stats.LastSeq
		if again {
			c.stats.Redelivered++
		}
		c.mu.Unlock()
		if again {
			// Delivered again after a lost ack: processed already.
			_ = msg.Ack()
			continue
		}
		c.process(msg.Subject(), msg.Data(), msg.Headers(), meta.Timestamp, seq, false)
		if c.afterProcess != nil {
			c.afterProcess(seq)
		}
		if c.skipAck != nil && c.skipAck(seq) {
			continue
		}
		if err := msg.Ack(); err != nil {
			c.log.Warn("consumer: ack failed; the message will be redelivered and skipped", "seq", seq, "err", err)
		}
		if c.finished() {
			return nil
		}
	}
}

func (c *Consumer) awaitSession(ctx context.Context) error {
	for {
		ok, err := SessionExists(ctx, c.js, c.session)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if !c.wait {
			return fmt.Errorf("%w: %q: the server has no message on %s.%s.>; is the name right, and has 'affect session --session %s' started? (--wait waits for it)",
				ErrNoSession, c.session, SubjectPrefix, c.session, c.session)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// replay re-reads the stream's messages of the session up to sequence last.
func (c *Consumer) replay(ctx context.Context, last uint64) error {
	oc, err := c.js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: c.filters(),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("replay session %q: %w", c.session, err)
	}
	iter, err := oc.Messages()
	if err != nil {
		return fmt.Errorf("replay session %q: %w", c.session, err)
	}
	defer iter.Stop()
	c.log.Info("consumer: replaying already delivered messages", "session", c.session, "up_to_seq", last)
	for {
		msg, err := iter.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("replay session %q: %w", c.session, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("replay session %q: %w", c.session, err)
		}
		if meta.Sequence.Stream > last {
			return nil
		}
		c.mu.Lock()
		c.stats.Replayed++
		c.mu.Unlock()
		c.process(msg.Subject(), msg.Data(), msg.Headers(), meta.Timestamp, meta.Sequence.Stream, true)
		if meta.Sequence.Stream == last || meta.NumPending == 0 {
			return nil
		}
	}
}

// process handles one message through the session's state and feeds the sink.
func (c *Consumer) process(subject string, data []byte, header nats.Header, stored time.Time, seq uint64, replay bool) {
	c.mu.Lock()
	c.stats.LastSeq = seq
	c.mu.Unlock()
	h := c.state.Handle(subject, data, header, stored)
	switch h.Verdict {
	case VerdictSkipped:
		c.log.Warn("consumer: skipped a message", "subject", subject, "seq", seq, "reason", h.Reason, "err", h.Err)
	case VerdictFrame:
		c.sink.Add(h.Frame)
		if c.onFrame != nil && !replay {
			c.onFrame(h.Frame)
		}
	case VerdictMarker:
		c.sink.AddMarker(*h.Event.Marker)
	}
	if h.Verdict >= VerdictStart && c.onEvent != nil {
		c.onEvent(h.Event)
	}
}

// Pending returns how many of the session's messages the durable consumer
// has not yet been delivered (its lag), from the server's consumer info.
func (c *Consumer) Pending(ctx context.Context) (uint64, error) {
	cons, err := c.js.Consumer(ctx, StreamName, c.Durable())
	if err != nil {
		return 0, fmt.Errorf("consumer %s: %w", c.Durable(), err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("consumer %s: %w", c.Durable(), err)
	}
	return info.NumPending, nil
}
