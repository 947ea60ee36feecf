// Package pipeline holds the messages that travel between affect's stages,
// their NATS subjects, and the publishers and consumers that move them.
//
// Only scores travel: no message carries image data.
package pipeline

import "github.com/affectlab/affect/record"

// SchemaVersion is the version of every message this package writes (the
// record schema). A consumer skips (and counts) messages whose schema it does not know.
const SchemaVersion = record.SchemaVersion

// MsgID is the JetStream de-duplication ID of a frame: session/source/frame.
func MsgID(f *record.FrameScore) string { return f.Key() }
