// Package pipeline holds the messages that travel between affect's stages,
// their NATS subjects, and the publishers and consumers that move them.
//
// Only scores travel: no message carries image data.
package pipeline

import (
	"fmt"
	"time"
)

// SchemaVersion is the version of every message this package writes.
// A consumer skips (and counts) messages whose schema it does not know.
const SchemaVersion = 1

// Labels are the seven expression classes in the order used by every
// probability vector in affect (the FER2013 order), whatever the model's own order.
var Labels = [7]string{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}

// HappyIndex is the index of "happy" in Labels.
const HappyIndex = 3

// Box is a face rectangle in frame pixels.
type Box struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// Face is one scored face in a frame.
type Face struct {
	// ID is the face's track ID: the same face keeps it across frames and
	// short losses (see classify.FaceTracker); 0 when faces are not tracked
	// (images scored one by one).
	ID  int `json:"id,omitempty"`
	Box Box `json:"box"`
	// Happiness is the model's probability of the happy class, in [0,1].
	Happiness float64 `json:"happiness"`
	// Probs are the seven class probabilities in Labels order.
	Probs [7]float64 `json:"probs"`
	// Quality flags and measures for this face (optional).
	Quality *Quality `json:"quality,omitempty"`
	// Smoothed is the centred moving average of the participant's happiness
	// (see package smooth). It needs later frames, so it is set in result
	// files only, never in live messages.
	Smoothed *float64 `json:"happiness_smoothed,omitempty"`
}

// Quality describes how trustworthy a face's score is.
type Quality struct {
	// FaceFrac is the face height divided by the frame height.
	FaceFrac float64 `json:"face_frac"`
	// Sharpness is the variance of the Laplacian of the face crop (higher is sharper).
	Sharpness float64 `json:"sharpness,omitempty"`
	// DetectNeighbors is the face detector's score: the number of raw
	// cascade hits around the face, counted with the face scaled to a common
	// size (see classify.Detector.Neighbors). Absent when the box did not
	// come from the detector (a face crop, or the whole image).
	DetectNeighbors *int `json:"detect_neighbors,omitempty"`
	// Symmetry is the correlation of the face crop with its mirror image
	// (-1..1): the pose measure; a turned or half-shadowed face is lower.
	Symmetry float64 `json:"symmetry,omitempty"`
	// Low is true when the face fails the documented quality rule.
	Low bool `json:"low,omitempty"`
}

// FrameScore is the per-frame message published on affect.<session>.frames
// and the row written to the per-frame CSV.
type FrameScore struct {
	Schema      int    `json:"schema"`
	Session     string `json:"session"`
	Participant string `json:"participant,omitempty"`
	Source      string `json:"source"`
	// Frame is the 0-based index of the frame in its source.
	Frame int64 `json:"frame"`
	// MediaMS is the media timestamp in milliseconds (for cameras: since capture start).
	MediaMS float64 `json:"media_ms"`
	// CaptureUnixNano is the wall-clock time the frame was captured.
	CaptureUnixNano int64 `json:"capture_unix_ns"`
	// FaceFound is false when no face was found: Primary is then nil and no score exists.
	FaceFound bool `json:"face_found"`
	NFaces    int  `json:"n_faces"`
	// Primary is the participant's face (tracked across frames), nil when FaceFound is false.
	Primary *Face `json:"primary,omitempty"`
	// FaceID is the participant's track ID (Primary.ID), 0 when FaceFound
	// is false or faces are not tracked.
	FaceID int `json:"face_id,omitempty"`
	// Faces are all faces found, largest first.
	Faces []Face `json:"faces,omitempty"`
	// Error, when set, says why this frame could not be scored; the frame still counts.
	Error string `json:"error,omitempty"`
}

// Happiness returns the primary face's happiness and whether there is one.
func (f *FrameScore) Happiness() (float64, bool) {
	if f.Primary == nil || !f.FaceFound {
		return 0, false
	}
	return f.Primary.Happiness, true
}

// MsgID is the JetStream de-duplication ID of the frame: session/source/frame.
func (f *FrameScore) MsgID() string {
	return fmt.Sprintf("%s/%s/%d", f.Session, f.Source, f.Frame)
}

// CaptureTime returns CaptureUnixNano as a time.Time.
func (f *FrameScore) CaptureTime() time.Time { return time.Unix(0, f.CaptureUnixNano) }
