// Package study scores whole studies on as many machines as it takes, with
// NATS JetStream as the engine: one manifest in, one tidy table and one
// study report out.
//
// A study is a manifest (participant, session, condition, source, optional
// markers, group, calibration; see ReadManifest) submitted under a name.
// Submit turns each row into a job on the work-queue stream JobsStream
// (subject affect_study.jobs.<study>), with a record in the key-value bucket
// StatusBucket (key <study>.job.<id>); a job's ID is derived from its
// participant, session and condition, so submitting the same rows again
// makes no new jobs (the record exists; the message also carries a
// Nats-Msg-Id).
//
// Workers (any number, on any machines: Worker.Run) share the durable pull
// consumer JobsConsumer. A worker pulls one job, marks it running (its ID,
// progress and ETA in the record), scores it with offline.File (exactly the
// offline path of `affect score`), puts the per-frame CSV, the summary JSON
// and the plot into the object store ResultsBucket under <study>/<id>/, and
// only then marks the record done (a compare-and-set on the record's revision:
// the commit point) and acks the job. While it scores it tells the server the
// job is in progress at a third of the consumer's AckWait; a worker that
// dies stops doing so, and the job is delivered to another worker after
// AckWait. An object store put is atomic (an object becomes visible only
// when its last chunk and its digest are stored) and a put under the same
// name replaces the object, so a crashed worker's partial output is never
// visible and the next worker's output replaces it. A job that fails
// MaxDeliver times (or whose workers die MaxDeliver times: the server's max
// deliveries advisory) goes to the dead-letter state failed, with its error.
//
// Videos travel as a path every worker can read (a shared file system) or,
// with SubmitOptions.Upload, in the object store VideosBucket (chunked and
// SHA-256 checked by JetStream). Only scores and the participant's pseudonym
// travel otherwise: a worker's frames stay in the worker.
package study

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Names of the JetStream resources of studies.
const (
	JobsStream    = "AFFECT_STUDY_JOBS"
	JobsConsumer  = "workers"
	SubjectPrefix = "affect_study"
	StatusBucket  = "AFFECT_STUDY"
	ResultsBucket = "AFFECT_RESULTS"
	VideosBucket  = "AFFECT_VIDEOS"
)

// Defaults of the jobs consumer.
const (
	DefaultAckWait    = time.Minute
	DefaultMaxDeliver = 3
)

// ErrNoStudy is wrapped when a study has no jobs on the server.
var ErrNoStudy = errors.New("no such study")

// JobsSubject is the subject of study's jobs.
func JobsSubject(study string) string { return SubjectPrefix + ".jobs." + study }

// MaxDeliveriesAdvisory is the subject of the server's advisory when a job
// reached the consumer's MaxDeliver.
const MaxDeliveriesAdvisory = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + JobsStream + "." + JobsConsumer

// ValidateName checks a study name: 1-64 letters, digits, '-' and '_'.
func ValidateName(name string) error {
	if name == "" {
		return errors.New("the study name is empty; give one with --study (letters, digits, '-' and '_')")
	}
	if len(name) > MaxIDLen {
		return fmt.Errorf("study name %q is longer than %d characters", name, MaxIDLen)
	}
	for _, r := range name {
		if !(r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return fmt.Errorf("study name %q contains %q; use only letters, digits, '-' and '_'", name, r)
		}
	}
	return nil
}

// Setup configures Ensure.
type Setup struct {
	// Replicas of every stream and bucket (1; 3 on a 3-node cluster).
	Replicas int
	// AckWait and MaxDeliver of the jobs consumer, used only when Ensure
	// creates it (default DefaultAckWait, DefaultMaxDeliver).
	AckWait    time.Duration
	MaxDeliver int
}

// Resources are the JetStream handles of studies.
type Resources struct {
	JS       jetstream.JetStream
	Jobs     jetstream.Stream
	Consumer jetstream.Consumer
	Status   jetstream.KeyValue
	Results  jetstream.ObjectStore
	Videos   jetstream.ObjectStore
}

// Ensure creates whatever is missing of the jobs stream and consumer, the
// status bucket and the two object stores, and returns handles to them. It is
// idempotent; existing resources are used as they are (their replicas,
// AckWait and MaxDeliver are not changed).
func Ensure(ctx context.Context, js jetstream.JetStream, s Setup) (*Resources, error) {
	r := max(s.Replicas, 1)
	res := &Resources{JS: js}
	var err error
	res.Jobs, err = js.Stream(ctx, JobsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		res.Jobs, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        JobsStream,
			Description: "affect study jobs: one per manifest row, removed when a worker acks it",
			Subjects:    []string{SubjectPrefix + ".jobs.*"},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    r,
			Duplicates:  24 * time.Hour,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("study: jobs stream %s: %w (does the server have JetStream enabled, and may this user create it?)", JobsStream, err)
	}
	res.Consumer, err = res.Jobs.Consumer(ctx, JobsConsumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		ack := s.AckWait
		if ack <= 0 {
			ack = DefaultAckWait
		}
		md := s.MaxDeliver
		if md <= 0 {
			md = DefaultMaxDeliver
		}
		res.Consumer, err = res.Jobs.CreateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       JobsConsumer,
			Description:   "affect workers (shared)",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       ack,
			MaxDeliver:    md,
			MaxAckPending: -1,
			Replicas:      0, // as the stream
		})
	}
	if err != nil {
		return nil, fmt.Errorf("study: jobs consumer %s: %w", JobsConsumer, err)
	}
	res.Status, err = js.KeyValue(ctx, StatusBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		res.Status, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: StatusBucket, Description: "affect study job status", History: 16,
			Storage: jetstream.FileStorage, Replicas: r,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("study: status bucket %s: %w", StatusBucket, err)
	}
	for _, b := range []struct {
		name, desc string
		dst        *jetstream.ObjectStore
	}{{ResultsBucket, "affect study results: per-frame CSV, summary JSON, plot per job", &res.Results},
		{VideosBucket, "affect study videos uploaded with --upload", &res.Videos}} {
		*b.dst, err = js.ObjectStore(ctx, b.name)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			*b.dst, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
				Bucket: b.name, Description: b.desc, Storage: jetstream.FileStorage, Replicas: r,
			})
		}
		if err != nil {
			return nil, fmt.Errorf("study: object store %s: %w", b.name, err)
		}
	}
	return res, nil
}
