// Package metrics holds affect's Prometheus metrics on a registry of its own,
// and the small API that the capture, scoring, publishing, aggregation and
// dashboard code calls to update them.
//
// The package imports neither gocv nor NATS, so any package can use it.
// The dashboard serves the registry at /metrics (see package dashboard);
// Handler serves it anywhere else.
//
// # Metrics
//
// Counters (labelled by session):
//
//	affect_frames_captured_total          frames read from the source
//	affect_frames_scored_total            frames through detection and classification
//	affect_frames_no_face_total           scored frames with no face (a flag, never happiness 0)
//	affect_frames_published_total         frames the broker acknowledged
//	affect_frames_undelivered_total       frames the broker never acknowledged (refused or unsent)
//	affect_frames_aggregated_total        frames added to a live aggregate
//	affect_dashboard_frames_total         frames the dashboard received
//	affect_dashboard_no_face_frames_total of which with no face
//	affect_dashboard_skipped_messages_total{session,reason} malformed, unknown schema, duplicate, out of range
//
// Gauges:
//
//	affect_frames_per_second{session}              scored frames per second over the last 5 complete seconds
//	affect_consumer_lag_messages{session,consumer} messages stored but not yet delivered to a consumer
//	affect_dashboard_clients                       open live-update (SSE) connections
//	affect_dashboard_sessions                      sessions held in the dashboard's memory
//
// Histograms (seconds, labelled by session), measured from the frame's
// capture wall-clock time (record.FrameScore.CaptureUnixNano):
//
//	affect_capture_to_publish_seconds    until the broker acknowledged the frame
//	affect_capture_to_aggregate_seconds  until a live aggregator added it
//	affect_capture_to_dashboard_seconds  until the dashboard received it
//
// A long-running process that sees many sessions calls Forget when a session
// is over, so that its series do not accumulate.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LatencyBuckets are the upper bounds (seconds) of the latency histograms:
// 1 ms to about 16 s, doubling.
var LatencyBuckets = prometheus.ExponentialBuckets(0.001, 2, 15)

// Skip reasons of affect_dashboard_skipped_messages_total.
const (
	SkipMalformed     = "malformed"
	SkipUnknownSchema = "unknown_schema"
	SkipDuplicate     = "duplicate"
	SkipOutOfRange    = "out_of_range"
)

// fpsWindow is the number of complete seconds averaged by the frames/s gauge.
const fpsWindow = 5

// Metrics is a set of affect metrics on its own registry. The zero value is
// not usable; use New (or the package-level functions, which use Default).
// All methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	captured, scored, noFace, published, undelivered, aggregated *prometheus.CounterVec
	dashFrames, dashNoFace, dashSkipped                          *prometheus.CounterVec
	toPublish, toAggregate, toDashboard                          *prometheus.HistogramVec
	lag                                                          *prometheus.GaugeVec
	clients, sessions                                            prometheus.Gauge

	mu      sync.Mutex
	rates   map[string]*rate
	fpsDesc *prometheus.Desc
	now     func() time.Time
}

// New returns a fresh Metrics whose registry holds the affect metrics and the
// Go runtime and process collectors.
func New() *Metrics {
	m := newMetrics()
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func newMetrics() *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	hist := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: LatencyBuckets}, []string{"session"})
	}
	m := &Metrics{
		reg:         prometheus.NewRegistry(),
		captured:    counter("affect_frames_captured_total", "Frames read from the source.", "session"),
		scored:      counter("affect_frames_scored_total", "Frames through face detection and classification.", "session"),
		noFace:      counter("affect_frames_no_face_total", "Scored frames in which no face was found.", "session"),
		published:   counter("affect_frames_published_total", "Frames the NATS broker acknowledged.", "session"),
		undelivered: counter("affect_frames_undelivered_total", "Frames the NATS broker never acknowledged (refused while the buffer was full, or unsent at close).", "session"),
		aggregated:  counter("affect_frames_aggregated_total", "Frames added to a live aggregate.", "session"),
		dashFrames:  counter("affect_dashboard_frames_total", "Frames the dashboard received.", "session"),
		dashNoFace:  counter("affect_dashboard_no_face_frames_total", "Frames the dashboard received with no face.", "session"),
		dashSkipped: counter("affect_dashboard_skipped_messages_total", "Messages the dashboard skipped, by reason.", "session", "reason"),
		toPublish:   hist("affect_capture_to_publish_seconds", "Time from a frame's capture to the broker's acknowledgment."),
		toAggregate: hist("affect_capture_to_aggregate_seconds", "Time from a frame's capture to its addition to a live aggregate."),
		toDashboard: hist("affect_capture_to_dashboard_seconds", "Time from a frame's capture to its arrival at the dashboard."),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "affect_consumer_lag_messages",
			Help: "Messages stored in the stream but not yet delivered to the consumer.",
		}, []string{"session", "consumer"}),
		clients:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "affect_dashboard_clients", Help: "Open dashboard live-update connections."}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "affect_dashboard_sessions", Help: "Sessions held in the dashboard's memory."}),
		rates:    map[string]*rate{},
		fpsDesc: prometheus.NewDesc("affect_frames_per_second",
			"Scored frames per second, averaged over the last 5 complete seconds.", []string{"session"}, nil),
		now: time.Now,
	}
	m.reg.MustRegister(m.captured, m.scored, m.noFace, m.published, m.undelivered, m.aggregated,
		m.dashFrames, m.dashNoFace, m.dashSkipped, m.toPublish, m.toAggregate, m.toDashboard,
		m.lag, m.clients, m.sessions, fpsCollector{m})
	return m
}

// Default is the Metrics the package-level functions update.
var Default = New()

// Registry returns the registry holding m's metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves m's metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// FrameCaptured counts a frame read from the source.
func (m *Metrics) FrameCaptured(session string) { m.captured.WithLabelValues(session).Inc() }

// FrameScored counts a scored frame, and a frame with no face when faceFound is false.
func (m *Metrics) FrameScored(session string, faceFound bool) {
	m.scored.WithLabelValues(session).Inc()
	if !faceFound {
		m.noFace.WithLabelValues(session).Inc()
	}
	m.mu.Lock()
	r := m.rates[session]
	if r == nil {
		r = &rate{}
		m.rates[session] = r
	}
	r.add(m.now().Unix())
	m.mu.Unlock()
}

// FramePublished counts a frame the broker acknowledged and observes its
// capture-to-publish latency (capturedUnixNano is the frame's capture
// wall-clock time; 0 skips the observation).
func (m *Metrics) FramePublished(session string, capturedUnixNano int64) {
	m.published.WithLabelValues(session).Inc()
	m.observe(m.toPublish, session, capturedUnixNano)
}

// FramesUndelivered counts n frames the broker never acknowledged.
func (m *Metrics) FramesUndelivered(session string, n int) {
	if n > 0 {
		m.undelivered.WithLabelValues(session).Add(float64(n))
	}
}

// FrameAggregated counts a frame added to a live aggregate and observes its
// capture-to-aggregate latency.
func (m *Metrics) FrameAggregated(session string, capturedUnixNano int64) {
	m.aggregated.WithLabelValues(session).Inc()
	m.observe(m.toAggregate, session, capturedUnixNano)
}

// SetConsumerLag sets the number of stored messages not yet delivered to
// the named consumer of the session.
func (m *Metrics) SetConsumerLag(session, consumer string, pending uint64) {
	m.lag.WithLabelValues(session, consumer).Set(float64(pending))
}

// DashboardFrame counts a frame the dashboard received and observes its
// capture-to-dashboard latency.
func (m *Metrics) DashboardFrame(session string, faceFound bool, capturedUnixNano int64) {
	m.dashFrames.WithLabelValues(session).Inc()
	if !faceFound {
		m.dashNoFace.WithLabelValues(session).Inc()
	}
	m.observe(m.toDashboard, session, capturedUnixNano)
}

// DashboardSkipped counts a message the dashboard skipped; reason is one of
// the Skip constants. session may be empty when the message named none.
func (m *Metrics) DashboardSkipped(session, reason string) {
	m.dashSkipped.WithLabelValues(session, reason).Inc()
}

// AddDashboardClients adds delta (±1) to the open live-update connections.
func (m *Metrics) AddDashboardClients(delta int) { m.clients.Add(float64(delta)) }

// SetDashboardSessions sets the number of sessions the dashboard holds.
func (m *Metrics) SetDashboardSessions(n int) { m.sessions.Set(float64(n)) }

// Forget deletes every series of the session.
func (m *Metrics) Forget(session string) {
	match := prometheus.Labels{"session": session}
	for _, v := range []*prometheus.CounterVec{m.captured, m.scored, m.noFace, m.published, m.undelivered, m.aggregated, m.dashFrames, m.dashNoFace, m.dashSkipped} {
		v.DeletePartialMatch(match)
	}
	for _, v := range []*prometheus.HistogramVec{m.toPublish, m.toAggregate, m.toDashboard} {
		v.DeletePartialMatch(match)
	}
	m.lag.DeletePartialMatch(match)
	m.mu.Lock()
	delete(m.rates, session)
	m.mu.Unlock()
}

func (m *Metrics) observe(h *prometheus.HistogramVec, session string, capturedUnixNano int64) {
	if capturedUnixNano == 0 {
		return
	}
	d := m.now().Sub(time.Unix(0, capturedUnixNano))
	if d < 0 {
		d = 0 // clocks of two machines: never a negative latency
	}
	h.WithLabelValues(session).Observe(d.Seconds())
}

// rate counts events per wall-clock second in a ring of fpsWindow+1 seconds.
type rate struct {
	sec   [fpsWindow + 1]int64 // unix second of each slot
	count [fpsWindow + 1]int64
}

func (r *rate) add(now int64) {
	i := now % int64(len(r.sec))
	if r.sec[i] != now {
		r.sec[i], r.count[i] = now, 0
	}
	r.count[i]++
}

// perSecond is the mean count of the fpsWindow complete seconds before now.
func (r *rate) perSecond(now int64) float64 {
	var n int64
	for i := range r.sec {
		if s := r.sec[i]; s < now && s >= now-fpsWindow {
			n += r.count[i]
		}
	}
	return float64(n) / fpsWindow
}

// fpsCollector exports the frames/s gauge of every session, computed at scrape time.
type fpsCollector struct{ m *Metrics }

func (c fpsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.fpsDesc }

func (c fpsCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	now := c.m.now().Unix()
	for s, r := range c.m.rates {
		ch <- prometheus.MustNewConstMetric(c.m.fpsDesc, prometheus.GaugeValue, r.perSecond(now), s)
	}
}

// Package-level functions update Default.

// Handler serves Default's metrics.
func Handler() http.Handler { return Default.Handler() }

// FrameCaptured calls Default.FrameCaptured.
func FrameCaptured(session string) { Default.FrameCaptured(session) }

// FrameScored calls Default.FrameScored.
func FrameScored(session string, faceFound bool) { Default.FrameScored(session, faceFound) }

// FramePublished calls Default.FramePublished.
func FramePublished(session string, capturedUnixNano int64) {
	Default.FramePublished(session, capturedUnixNano)
}

// FramesUndelivered calls Default.FramesUndelivered.
func FramesUndelivered(session string, n int) { Default.FramesUndelivered(session, n) }

// FrameAggregated calls Default.FrameAggregated.
func FrameAggregated(session string, capturedUnixNano int64) {
	Default.FrameAggregated(session, capturedUnixNano)
}

// SetConsumerLag calls Default.SetConsumerLag.
func SetConsumerLag(session, consumer string, pending uint64) {
	Default.SetConsumerLag(session, consumer, pending)
}

// Forget calls Default.Forget.
func Forget(session string) { Default.Forget(session) }
