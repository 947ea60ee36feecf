// Package pipeline holds the messages that travel between affect's stages,
// their NATS subjects, and the publishers and consumers that move them.
//
// Only scores travel: no message carries image data.
package pipeline

import "github.com/affectlab/affect/record"

// SchemaVersion is the version of every message this package writes (the
// record schema). A consumer skips (and counts) messages whose schema it does not know.
const SchemaVersion = record.SchemaVersion

// MsgID is the JetStream de-duplication ID of a frame of a session with
// token: session/source/frame/token (session/source/frame without a token).
// With the token in it, a frame published first by anyone else under the
// same number cannot make the stream drop the real one as a duplicate.
func MsgID(f *record.FrameScore, token string) string {
	if token == "" {
		return f.Key()
	}
	return f.Key() + "/" + token
}
