package study

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/affectlab/affect/internal/natstest"
)

// An upload whose client dies mid-way (its connection gone, as when the
// process is killed) leaves chunks that no object names; CollectOrphans
// removes them once they are old enough, and leaves finished objects and
// recent uploads alone.
func TestCollectOrphansRemovesKilledUploads(t *testing.T) {
	b, res := setup(t, Setup{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := bytes.Repeat([]byte("affect video "), 60000) // 780 KB: 6 chunks of 128 KiB
	if _, err := res.Videos.PutBytes(ctx, "kept.mp4", data); err != nil {
		t.Fatal(err)
	}
	st, err := res.JS.Stream(ctx, "OBJ_"+VideosBucket)
	if err != nil {
		t.Fatal(err)
	}
	chunks := func() map[string]uint64 {
		t.Helper()
		info, err := st.Info(ctx, jetstream.WithSubjectFilter("$O."+VideosBucket+".C.>"))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects
	}

	// The cut-off upload: 3 chunks sent, then the client's connection dies.
	nc2, js2 := natstest.Connect(t, b.URL())
	obs2, err := js2.ObjectStore(ctx, VideosBucket)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	putDone := make(chan error, 1)
	putCtx, putCancel := context.WithCancel(ctx)
	defer putCancel()
	go func() {
		_, err := obs2.Put(putCtx, jetstream.ObjectMeta{Name: "cut.mp4"}, pr)
		putDone <- err
	}()
	go pw.Write(data[:3*128*1024])
	for {
		c := chunks()
		if len(c) == 2 {
			n := uint64(0)
			for _, v := range c {
				n += v
			}
			if n == 6+3 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("the cut-off upload's chunks never arrived: %v", c)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The process dies: connection, context and input all go at once.
	nc2.Close()
	putCancel()
	pw.CloseWithError(errors.New("killed"))
	if err := <-putDone; err == nil {
		t.Fatal("the cut-off put succeeded")
	}
	if len(chunks()) != 2 {
		t.Fatalf("the dead client cleaned up after itself (%v): nothing to test", chunks())
	}
	if _, err := res.Videos.GetInfo(ctx, "cut.mp4"); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("cut.mp4 is visible: %v", err)
	}

	// Too recent: left alone.
	reps, err := CollectOrphans(ctx, res, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if v := reps[1]; v.Bucket != VideosBucket || v.Uploads != 0 || v.Recent != 1 || len(chunks()) != 2 {
		t.Fatalf("with a 1 h age limit: %+v, chunks %v", v, chunks())
	}
	time.Sleep(100 * time.Millisecond)
	// Dry run: found, not removed.
	if reps, err = CollectOrphans(ctx, res, 50*time.Millisecond, true); err != nil {
		t.Fatal(err)
	}
	if v := reps[1]; v.Uploads != 1 || v.Chunks != 3 || len(chunks()) != 2 {
		t.Fatalf("dry run: %+v, chunks %v", v, chunks())
	}
	if reps, err = CollectOrphans(ctx, res, 50*time.Millisecond, false); err != nil {
		t.Fatal(err)
	}
	if v, r := reps[1], reps[0]; v.Uploads != 1 || v.Chunks != 3 || r.Bucket != ResultsBucket || r.Uploads != 0 {
		t.Fatalf("collect: %+v", reps)
	}
	info, err := res.Videos.GetInfo(ctx, "kept.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if c := chunks(); len(c) != 1 || c["$O."+VideosBucket+".C."+info.NUID] != 6 {
		t.Fatalf("after collecting: chunks %v, kept.mp4 has NUID %s", c, info.NUID)
	}
	got, err := res.Videos.GetBytes(ctx, "kept.mp4")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("kept.mp4 after collecting: %d bytes, %v", len(got), err)
	}
}
