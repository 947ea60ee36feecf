package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/affectlab/affect/metrics"
	"github.com/affectlab/affect/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher errors.
var (
	// ErrBufferFull: the frame was not accepted because Buffer frames are
	// already waiting for the broker. The frame is counted in Dropped.
	ErrBufferFull = errors.New("publish buffer full: broker unreachable or too slow")
	// ErrClosed: Process was called after Close.
	ErrClosed = errors.New("publisher closed")
	// ErrUndelivered is wrapped by Close when frames were not delivered.
	ErrUndelivered = errors.New("frames not delivered")
)

// PublisherStats are the publisher's counters.
type PublisherStats struct {
	// Accepted counts frames Process accepted into the buffer.
	Accepted int `json:"accepted"`
	// Published counts frames the broker acknowledged (stored, or already
	// stored: a retry of a stored frame is acknowledged as a duplicate).
	Published int `json:"published"`
	// Buffered counts frames accepted but not yet acknowledged.
	Buffered int `json:"buffered"`
	// Dropped counts frames refused with ErrBufferFull.
	Dropped int `json:"dropped"`
	// Retries counts publish attempts that failed and were retried.
	Retries int `json:"retries"`
}

// PublishReport is what Close says about the whole run.
type PublishReport struct {
	PublisherStats
	// Unsent counts accepted frames still unacknowledged at Close
	// (the broker stayed unreachable until the Close context ended).
	Unsent int `json:"unsent"`
	// Undelivered = Dropped + Unsent: the frames the broker never
	// acknowledged. (If the broker stored a frame but its acknowledgment was
	// lost and never retried, that frame is in the stream yet counted here:
	// the count is exact about acknowledgments, an upper bound on loss.)
	Undelivered int `json:"undelivered"`
}

// PublisherOption configures a Publisher.
type PublisherOption func(*Publisher) error

// WithBuffer bounds the frames held while waiting for the broker (default
// 9000, five minutes at 30 frames/s). When full, Process refuses new frames
// with ErrBufferFull and counts them in Dropped.
func WithBuffer(n int) PublisherOption {
	return func(p *Publisher) error {
		if n < 1 {
			return fmt.Errorf("publisher buffer %d must be >= 1", n)
		}
		p.bufMax = n
		return nil
	}
}

// WithBlockWhenFull makes Process wait for room in the buffer (until its
// context ends) instead of refusing the frame: for file sources, where
// waiting slows the reading but loses nothing.
func WithBlockWhenFull() PublisherOption {
	return func(p *Publisher) error { p.block = true; return nil }
}

// WithMaxInFlight bounds the frames published and awaiting acknowledgment (default 256).
func WithMaxInFlight(n int) PublisherOption {
	return func(p *Publisher) error {
		if n < 1 {
			return fmt.Errorf("publisher max in flight %d must be >= 1", n)
		}
		p.maxInFlight = n
		return nil
	}
}

// WithAckTimeout is how long a publish waits for the broker's acknowledgment
// before it is retried (default 2s).
func WithAckTimeout(d time.Duration) PublisherOption {
	return func(p *Publisher) error {
		if d <= 0 {
			return fmt.Errorf("publisher ack timeout %v must be > 0", d)
		}
		p.ackTimeout = d
		return nil
	}
}

// WithRetryWait sets the first wait after a failed publish; it doubles up
// to 8 times that while failures go on (default 100ms).
func WithRetryWait(d time.Duration) PublisherOption {
	return func(p *Publisher) error {
		if d <= 0 {
			return fmt.Errorf("publisher retry wait %v must be > 0", d)
		}
		p.retryWait = d
		return nil
	}
}

// WithPublisherLogger sets the logger (default slog.Default()).
func WithPublisherLogger(l *slog.Logger) PublisherOption {
	return func(p *Publisher) error {
		if l == nil {
			return errors.New("publisher logger is nil")
		}
		p.log = l
		return nil
	}
}

type pubItem struct {
	msg *nats.Msg
	id  string
	// session and captured feed the capture-to-publish metrics on acknowledgment.
	session  string
	captured int64
}

// Publisher publishes FrameScores to JetStream asynchronously. Each frame is
// published with Nats-Msg-Id = MsgID, so a retry never stores it
// twice. Frames wait in a bounded in-memory buffer until the broker
// acknowledges them; while the broker is unreachable they are retried, and
// when the buffer is full new frames are refused and counted, never dropped
// silently. Close reports exactly how many frames were not acknowledged.
type Publisher struct {
	js          jetstream.JetStream
	log         *slog.Logger
	bufMax      int
	maxInFlight int
	ackTimeout  time.Duration
	retryWait   time.Duration
	block       bool

	mu       sync.Mutex
	queue    []pubItem // waiting to be sent (or re-sent)
	inflight int
	stats    PublisherStats
	closed   bool
	stopSend bool
	backoff  time.Duration
	wake     chan struct{}
	idle     chan struct{} // closed and replaced when buffer becomes empty
	freed    chan struct{} // closed and replaced when in-flight frames finish
	done     chan struct{}
}

// NewPublisher returns a Publisher on the connection nc. The AFFECT stream
// must exist (EnsureStreams).
func NewPublisher(nc *nats.Conn, opts ...PublisherOption) (*Publisher, error) {
	if nc == nil {
		return nil, errors.New("publisher: nil NATS connection")
	}
	p := &Publisher{
		log: slog.Default(), bufMax: 9000, maxInFlight: 256,
		ackTimeout: 2 * time.Second, retryWait: 100 * time.Millisecond,
		wake: make(chan struct{}, 1), done: make(chan struct{}), idle: make(chan struct{}), freed: make(chan struct{}),
	}
	for _, o := range opts {
		if err := o(p); err != nil {
			return nil, fmt.Errorf("publisher: %w", err)
		}
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(p.ackTimeout),
		jetstream.WithPublishAsyncMaxPending(p.maxInFlight+1))
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	p.js = js
	go p.sendLoop()
	return p, nil
}

// Process accepts one frame for publishing. It returns ErrBufferFull (the
// frame is counted in Dropped) when the buffer is full, ErrClosed after
// Close, and an error for a frame that is not valid (bad session name,
// unknown schema). A frame with Schema 0 gets SchemaVersion. Process never
// blocks on the network.
func (p *Publisher) Process(ctx context.Context, f record.FrameScore) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.Schema == 0 {
		f.Schema = SchemaVersion
	}
	if f.Schema != SchemaVersion {
		return fmt.Errorf("publish frame %d: %w: %d", f.Frame, ErrUnknownSchema, f.Schema)
	}
	if err := ValidateSession(f.Session); err != nil {
		return fmt.Errorf("publish frame %d: %w", f.Frame, err)
	}
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("publish frame %d: %w", f.Frame, err)
	}
	msg := &nats.Msg{Subject: FramesSubject(f.Session), Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, MsgID(&f))
	msg.Header.Set(jetstream.ExpectedStreamHeader, StreamName)
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.block && !p.closed && len(p.queue)+p.inflight >= p.bufMax {
		freed := p.freed
		p.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
		}
		p.mu.Lock()
		if ctx.Err() != nil {
			break
		}
	}
	if p.closed {
		return ErrClosed
	}
	if len(p.queue)+p.inflight >= p.bufMax {
		p.stats.Dropped++
		if p.stats.Dropped == 1 || p.stats.Dropped%100 == 0 {
			p.log.Warn("publish buffer full: frames are being refused", "dropped", p.stats.Dropped, "buffer", p.bufMax)
		}
		return fmt.Errorf("frame %s: %w (%d frames waiting, %d refused so far)", MsgID(&f), ErrBufferFull, p.bufMax, p.stats.Dropped)
	}
	p.stats.Accepted++
	p.queue = append(p.queue, pubItem{msg: msg, id: MsgID(&f), session: f.Session, captured: f.CaptureUnixNano})
	p.signal()
	return nil
}

func (p *Publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Stats returns the current counters.
func (p *Publisher) Stats() PublisherStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Buffered = len(p.queue) + p.inflight
	return s
}

func (p *Publisher) sendLoop() {
	defer close(p.done)
	for {
		p.mu.Lock()
		for !p.stopSend && (len(p.queue) == 0 || p.inflight >= p.maxInFlight) {
			p.mu.Unlock()
			<-p.wake
			p.mu.Lock()
		}
		if p.stopSend {
			p.mu.Unlock()
			return
		}
		if wait := p.backoff; wait > 0 {
			p.mu.Unlock()
			time.Sleep(wait)
			p.mu.Lock()
			if p.stopSend {
				p.mu.Unlock()
				return
			}
		}
		n := min(len(p.queue), p.maxInFlight-p.inflight)
		batch := make([]pubItem, n)
		copy(batch, p.queue[:n])
		p.queue = p.queue[n:]
		p.inflight += n
		p.mu.Unlock()

		futures := make([]jetstream.PubAckFuture, n)
		var failed []pubItem
		for i, it := range batch {
			f, err := p.js.PublishMsgAsync(it.msg)
			if err != nil {
				failed = append(failed, batch[i:]...)
				batch, futures = batch[:i], futures[:i]
				break
			}
			futures[i] = f
		}
		if len(failed) > 0 {
			p.finish(0, failed, len(failed))
		}
		if len(batch) > 0 {
			go p.await(batch, futures)
		}
	}
}

// await waits for a batch's acknowledgments.
func (p *Publisher) await(batch []pubItem, futures []jetstream.PubAckFuture) {
	ok := 0
	var failed []pubItem
	for i, f := range futures {
		select {
		case <-f.Ok():
			ok++
			metrics.FramePublished(batch[i].session, batch[i].captured)
		case <-f.Err():
			failed = append(failed, batch[i])
		}
	}
	p.finish(ok, failed, len(batch))
}

// finish records n in-flight frames as done: ok acknowledged, failed re-queued.
func (p *Publisher) finish(ok int, failed []pubItem, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight -= n
	p.stats.Published += ok
	close(p.freed)
	p.freed = make(chan struct{})
	if len(failed) > 0 {
		p.stats.Retries += len(failed)
		// Retry first, in their original order.
		p.queue = append(failed, p.queue...)
		if p.backoff == 0 {
			p.backoff = p.retryWait
		} else {
			p.backoff = min(2*p.backoff, 8*p.retryWait)
		}
		p.log.Debug("publish failed, will retry", "frames", len(failed), "wait", p.backoff)
	} else if ok > 0 {
		p.backoff = 0
	}
	if len(p.queue) == 0 && p.inflight == 0 {
		close(p.idle)
		p.idle = make(chan struct{})
	}
	p.signal()
}

// Flush waits until every accepted frame is acknowledged or ctx ends.
func (p *Publisher) Flush(ctx context.Context) error {
	for {
		p.mu.Lock()
		empty := len(p.queue) == 0 && p.inflight == 0
		idle := p.idle
		p.mu.Unlock()
		if empty {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops accepting frames, keeps retrying until every buffered frame is
// acknowledged or ctx ends, and reports the counts. The error wraps
// ErrUndelivered when Undelivered > 0. Close does not close the connection.
func (p *Publisher) Close(ctx context.Context) (PublishReport, error) {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if !already {
		flushErr := p.Flush(ctx)
		p.mu.Lock()
		p.stopSend = true
		p.signal()
		p.mu.Unlock()
		<-p.done
		if flushErr != nil {
			// Let in-flight publishes resolve (each within the ack timeout),
			// so that every frame is counted exactly once.
			for {
				p.mu.Lock()
				n := p.inflight
				idle := p.idle
				p.mu.Unlock()
				if n == 0 {
					break
				}
				select {
				case <-idle:
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := PublishReport{PublisherStats: p.stats}
	r.Buffered = len(p.queue) + p.inflight
	r.Unsent = r.Buffered
	r.Undelivered = r.Dropped + r.Unsent
	if r.Undelivered > 0 {
		return r, fmt.Errorf("%w: %d of %d frames (%d refused while the buffer was full, %d still unacknowledged at close)",
			ErrUndelivered, r.Undelivered, r.Accepted+r.Dropped, r.Dropped, r.Unsent)
	}
	return r, nil
}
