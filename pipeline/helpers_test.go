package pipeline_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/affectlab/affect/internal/natstest"
	"github.com/affectlab/affect/record"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/pipeline/broker"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startServer starts a real embedded NATS server with JetStream in dir.
func startServer(t testing.TB, dir string, port int) *broker.Server {
	t.Helper()
	s, err := broker.Start(broker.Config{DataDir: dir, Port: port, Logger: quiet})
	if err != nil {
		t.Fatalf("start embedded NATS: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// connect connects to url and makes sure the streams exist.
func connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	return natstest.Connect(t, url)
}

// makeFrames returns n frames at 30 frames/s with a deterministic happiness
// pattern; every 7th frame has no face.
func makeFrames(session string, n int) []record.FrameScore {
	out := make([]record.FrameScore, n)
	for i := range out {
		f := record.FrameScore{
			Schema: record.SchemaVersion, Session: session, Participant: "P01", Source: "video.mp4",
			Frame: int64(i), MediaMS: float64(i) * 1000 / 30, CaptureUnixNano: time.Now().UnixNano(),
		}
		if i%7 != 3 {
			h := float64((i*37)%100) / 100
			f.FaceFound, f.NFaces = true, 1
			f.Primary = &record.Face{Box: record.Box{X: 10, Y: 20, W: 100, H: 100}, Happiness: h}
			f.Primary.Probs[record.HappyIndex] = h
			f.Primary.Probs[6] = 1 - h
			f.Faces = []record.Face{*f.Primary}
		}
		out[i] = f
	}
	return out
}

var testMarkers = []record.Marker{
	{OnsetMS: 1500, Label: "joke1", Condition: "funny"},
	{OnsetMS: 4000, Label: "news1", Condition: "neutral"},
	{OnsetMS: 7000, Label: "joke2", Condition: "funny"},
}

// publishFrames publishes frames and waits for all acknowledgments.
func publishFrames(t testing.TB, nc *nats.Conn, frames []record.FrameScore) {
	t.Helper()
	p, err := pipeline.NewPublisher(nc, pipeline.WithPublisherLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, f := range frames {
		if err := p.Process(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := p.Close(ctx); err != nil || r.Published != len(frames) {
		t.Fatalf("publisher close: %+v, %v", r, err)
	}
}

func publishEvent(t testing.TB, js jetstream.JetStream, ev pipeline.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pipeline.PublishEvent(ctx, js, ev); err != nil {
		t.Fatal(err)
	}
}

func endEvent(session string, n int) pipeline.Event {
	return pipeline.NewEndEvent(session, pipeline.SessionEnd{Frames: n, Published: n, Reason: "completed"})
}

// consume runs a fresh consumer+aggregator until session_end and returns the summary.
func consume(t testing.TB, js jetstream.JetStream, session, name string) (aggregate.Summary, pipeline.ConsumerStats) {
	t.Helper()
	agg, err := aggregate.New(aggregate.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	c, err := pipeline.NewConsumer(js, session, agg, pipeline.WithConsumerName(name), pipeline.WithConsumerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Run(ctx); err != nil {
		t.Fatalf("consumer %s: %v", name, err)
	}
	return agg.Summary(), c.Stats()
}

// offline computes the summary the aggregator must reach.
func offline(t testing.TB, frames []record.FrameScore, markers []record.Marker) aggregate.Summary {
	t.Helper()
	s, err := aggregate.Compute(aggregate.DefaultConfig(), frames, markers)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// streamFrameCount counts the messages stored on the session's frames subject.
func streamFrameCount(t testing.TB, js jetstream.JetStream, session string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, pipeline.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(pipeline.FramesSubject(session)))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[pipeline.FramesSubject(session)]
}

func mustConnect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := broker.Connect(url, broker.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}
