package study

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultOrphanAge is how old the newest chunk of an unfinished upload must
// be before CollectOrphans removes it.
const DefaultOrphanAge = time.Hour

// Orphans reports what CollectOrphans found in one object store.
type Orphans struct {
	Bucket string
	// Uploads and Chunks count the unfinished uploads removed (or, with
	// dry run, found) and their chunks (up to 128 KiB each).
	Uploads int
	Chunks  uint64
	// Recent counts unfinished uploads whose newest chunk is younger than
	// the age limit: maybe still being written, so left alone.
	Recent int
}

// CollectOrphans removes from the results and the videos object stores the
// chunks of uploads that never finished: a worker or `affect study submit
// --upload` killed while putting an object leaves chunks that no object
// names (the object store cleans up after itself only when the put returns
// an error). An upload counts as unfinished when no object, deleted or not,
// names its chunks, and as abandoned when its newest chunk is older than
// minAge (0: DefaultOrphanAge); an upload still being written has a recent
// chunk and is left alone. With dryRun nothing is removed.
func CollectOrphans(ctx context.Context, res *Resources, minAge time.Duration, dryRun bool) ([]Orphans, error) {
	if minAge <= 0 {
		minAge = DefaultOrphanAge
	}
	var out []Orphans
	for _, b := range []struct {
		name string
		obs  jetstream.ObjectStore
	}{{ResultsBucket, res.Results}, {VideosBucket, res.Videos}} {
		o, err := collectBucket(ctx, res.JS, b.name, b.obs, minAge, dryRun)
		if err != nil {
			return out, fmt.Errorf("study: unfinished uploads in %s: %w", b.name, err)
		}
		out = append(out, o)
	}
	return out, nil
}

func collectBucket(ctx context.Context, js jetstream.JetStream, bucket string, obs jetstream.ObjectStore, minAge time.Duration, dryRun bool) (Orphans, error) {
	rep := Orphans{Bucket: bucket}
	st, err := js.Stream(ctx, "OBJ_"+bucket)
	if err != nil {
		return rep, err
	}
	// The uploads (chunk subjects) present, then the objects: an upload that
	// finishes in between names its chunks by the time the objects are
	// listed, so it is never taken for an orphan.
	prefix := "$O." + bucket + ".C."
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return rep, err
	}
	if len(info.State.Subjects) == 0 {
		return rep, nil
	}
	named := map[string]bool{}
	objs, err := obs.List(ctx, jetstream.ListObjectsShowDeleted())
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return rep, err
	}
	for _, o := range objs {
		named[o.NUID] = true
	}
	for subject := range info.State.Subjects {
		nuid := strings.TrimPrefix(subject, prefix)
		if named[nuid] {
			continue
		}
		last, err := st.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return rep, err
		}
		if time.Since(last.Time) < minAge {
			rep.Recent++
			continue
		}
		if !dryRun {
			if err := st.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
				return rep, err
			}
		}
		rep.Uploads++
		rep.Chunks += info.State.Subjects[subject]
	}
	return rep, nil
}
