package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
// stream sequence, also across restarts (see Consumer).
type ConsumerStats struct {
	Frames  int `json:"frames"`
	Markers int `json:"markers"`
	Events  int `json:"events"`
	// Malformed counts messages that are not valid JSON of the expected shape.
	Malformed int `json:"malformed"`
	// UnknownSchema counts messages with a schema version this affect does not read.
	UnknownSchema int `json:"unknown_schema"`
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

// WithOnEvent calls fn for every valid event, after the Sink got it and
// before it is acknowledged.
func WithOnEvent(fn func(Event)) ConsumerOption {
	return func(c *Consumer) error { c.onEvent = fn; return nil }
}

// WithOnFrame calls fn for every valid frame after the Sink got it.
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
	onEvent   func(Event)
	onFrame   func(record.FrameScore)
	log       *slog.Logger

	mu    sync.Mutex
	stats ConsumerStats
	start *SessionStart
	end   *SessionEnd

	// afterProcess, for tests, runs after a message is processed and before its ack.
	afterProcess func(seq uint64)
}

// NewConsumer returns a consumer of session that feeds sink.
func NewConsumer(js jetstream.JetStream, session string, sink Sink, opts ...ConsumerOption) (*Consumer, error) {
	if err := ValidateSession(session); err != nil {
		return nil, err
	}
	if js == nil || sink == nil {
		return nil, errors.New("consumer: nil JetStream or sink")
	}
	c := &Consumer{js: js, session: session, sink: sink, name: "aggregate", stopAtEnd: true, log: slog.Default()}
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
	defer c.mu.Unlock()
	return c.stats
}

// Start returns the session_start event's payload, nil before it arrived.
func (c *Consumer) Start() *SessionStart {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.start
}

// End returns the session_end event's payload, nil before it arrived.
func (c *Consumer) End() *SessionEnd {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.end
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
		AckWait:        30 * time.Second,
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
		done, err := c.replay(ctx, replayTo)
		if err != nil || done {
			return err
		}
	}
	iter, err := cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.Durable(), err)
	}
	defer iter.Stop()
	for {
		msg, err := iter.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
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
		ended := c.process(msg.Subject(), msg.Data(), seq)
		if c.afterProcess != nil {
			c.afterProcess(seq)
		}
		if err := msg.Ack(); err != nil {
			c.log.Warn("consumer: ack failed; the message will be redelivered and skipped", "seq", seq, "err", err)
		}
		if ended && c.stopAtEnd {
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
func (c *Consumer) replay(ctx context.Context, last uint64) (ended bool, err error) {
	oc, err := c.js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: c.filters(),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return false, fmt.Errorf("replay session %q: %w", c.session, err)
	}
	iter, err := oc.Messages()
	if err != nil {
		return false, fmt.Errorf("replay session %q: %w", c.session, err)
	}
	defer iter.Stop()
	c.log.Info("consumer: replaying already delivered messages", "session", c.session, "up_to_seq", last)
	for {
		msg, err := iter.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, fmt.Errorf("replay session %q: %w", c.session, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return false, fmt.Errorf("replay session %q: %w", c.session, err)
		}
		if meta.Sequence.Stream > last {
			return false, nil
		}
		c.mu.Lock()
		c.stats.Replayed++
		c.mu.Unlock()
		end := c.process(msg.Subject(), msg.Data(), meta.Sequence.Stream)
		if meta.Sequence.Stream == last || meta.NumPending == 0 {
			return end && c.stopAtEnd, nil
		}
	}
}

// process handles one message and reports whether it was the session_end.
func (c *Consumer) process(subject string, data []byte, seq uint64) bool {
	c.mu.Lock()
	c.stats.LastSeq = seq
	c.mu.Unlock()
	count := func(err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if errors.Is(err, ErrUnknownSchema) {
			c.stats.UnknownSchema++
		} else {
			c.stats.Malformed++
		}
		c.log.Warn("consumer: skipped a message", "subject", subject, "seq", seq, "err", err)
	}
	switch {
	case strings.HasSuffix(subject, ".frames"):
		f, err := DecodeFrame(data)
		if err == nil && f.Session != c.session {
			err = fmt.Errorf("%w: frame of session %q on %s", ErrMalformed, f.Session, subject)
		}
		if err != nil {
			count(err)
			return false
		}
		c.sink.Add(f)
		c.mu.Lock()
		c.stats.Frames++
		c.mu.Unlock()
		if c.onFrame != nil {
			c.onFrame(f)
		}
	case strings.HasSuffix(subject, ".events"):
		ev, err := DecodeEvent(data)
		if err == nil && ev.Session != c.session {
			err = fmt.Errorf("%w: event of session %q on %s", ErrMalformed, ev.Session, subject)
		}
		if err != nil {
			count(err)
			return false
		}
		c.mu.Lock()
		c.stats.Events++
		switch ev.Type {
		case EventSessionStart:
			if c.start == nil {
				s := *ev.Start
				c.start = &s
			}
		case EventMarker:
			c.stats.Markers++
		case EventSessionEnd:
			e := *ev.End
			c.end = &e
		}
		c.mu.Unlock()
		if ev.Type == EventMarker {
			c.sink.AddMarker(*ev.Marker)
		}
		if c.onEvent != nil {
			c.onEvent(ev)
		}
		return ev.Type == EventSessionEnd
	default:
		count(fmt.Errorf("%w: unexpected subject %s", ErrMalformed, subject))
	}
	return false
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
