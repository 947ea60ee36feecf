package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// When no server answers for the stream, the error says what to check;
// other errors get no hint.
func TestNoStreamHint(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("publish: %w", jetstream.ErrNoStreamResponse), "check that the stream exists and that a majority of the cluster's servers are up"},
		{context.DeadlineExceeded, ""},
	} {
		got := noStreamHint(tc.err)
		if (tc.want == "" && got != "") || !strings.Contains(got, tc.want) {
			t.Errorf("noStreamHint(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if n := len(eventRetry()); n != 2 || EventRetryFor/EventRetryWait < 20 {
		t.Errorf("event retry: %d options, %v / %v", n, EventRetryFor, EventRetryWait)
	}
}
