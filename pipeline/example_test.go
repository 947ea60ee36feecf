package pipeline_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/pipeline"
	"github.com/affectlab/affect/pipeline/aggregate"
	"github.com/affectlab/affect/pipeline/broker"
	"github.com/affectlab/affect/record"
)

// A session publishes frames and a marker through an embedded broker; a
// durable consumer aggregates them.
func ExamplePublisher() {
	dir, _ := os.MkdirTemp("", "affect-example")
	defer os.RemoveAll(dir)
	srv, err := broker.Start(broker.Config{DataDir: dir, Port: broker.RandomPort, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := broker.Connect(srv.ClientURL(), broker.WithLogger(quiet))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := pipeline.EnsureStreams(ctx, js); err != nil {
		log.Fatal(err)
	}

	// The capturing side.
	const session = "demo"
	if err := pipeline.StartSession(ctx, js, session, pipeline.SessionStart{Participant: "P01", Source: "camera 0", FPS: 10}); err != nil {
		log.Fatal(err)
	}
	pub, _ := pipeline.NewPublisher(nc, pipeline.WithPublisherLogger(quiet))
	for i := range 20 {
		f := record.FrameScore{Session: session, Participant: "P01", Source: "camera 0", Frame: int64(i), MediaMS: float64(i) * 100}
		if i != 5 { // frame 5 has no face
			h := 0.1
			if i >= 12 {
				h = 0.9 // smiling from 1.2 s on
			}
			f.FaceFound, f.NFaces, f.Primary = true, 1, &record.Face{Happiness: h}
		}
		if err := pub.Process(ctx, f); err != nil {
			log.Fatal(err)
		}
	}
	rep, err := pub.Close(ctx)
	if err != nil {
		log.Fatal(err)
	}
	pipeline.PublishEvent(ctx, js, pipeline.NewMarkerEvent(session, record.Marker{OnsetMS: 1000, Label: "joke", Condition: "funny"}))
	pipeline.PublishEvent(ctx, js, pipeline.NewEndEvent(session, pipeline.SessionEnd{Frames: 20, Published: rep.Published}))

	// The aggregating side.
	agg, _ := aggregate.New(aggregate.DefaultConfig())
	cons, _ := pipeline.NewConsumer(js, session, agg, pipeline.WithConsumerLogger(quiet))
	if err := cons.Run(ctx); err != nil { // returns at session_end
		log.Fatal(err)
	}
	s := agg.Summary()
	e := s.Epochs[0]
	fmt.Printf("published %d, aggregated %d frames, %d with a face\n", rep.Published, s.Overall.Frames, s.Overall.FaceFrames)
	fmt.Printf("mean %.3f, longest smile %.0f ms\n", *s.Overall.Mean, s.Overall.LongestRunMS)
	fmt.Printf("%s: baseline %.2f, response %.2f, corrected %+.2f, latency %.0f ms\n", e.Label, *e.BaselineMean, *e.ResponseMean, *e.Corrected, *e.LatencyMS)
	// Output:
	// published 20, aggregated 20 frames, 19 with a face
	// mean 0.437, longest smile 800 ms
	// joke: baseline 0.10, response 0.74, corrected +0.64, latency 200 ms
}
