// Package record defines what affect records about a participant's face,
// independent of how it travels or is stored: the per-frame score
// (FrameScore), the faces in a frame (Face, Box, Quality), the expression
// labels, and stimulus markers.
//
// It is the leaf of affect's packages: it imports nothing of NATS, OpenCV or
// metrics, so classify, score, evaluate, export and smooth can share these
// types with the transport (pipeline) without depending on it.
package record

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// SchemaVersion is the version of the frame and event records affect writes.
// A reader skips (and counts) records whose schema it does not know.
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
	Box Box `json:"box"`
	// Happiness is the model's happiness score in [0,1]: a calibrated
	// probability that the face is happy (for "combined", the learned
	// combination's output, not Probs[HappyIndex]).
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

// FrameScore is the record of one frame: published live on a session's
// frames subject and written as one row of the per-frame CSV.
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

// Key identifies the frame within everything affect records:
// session/source/frame. Transports use it to de-duplicate.
func (f *FrameScore) Key() string {
	return fmt.Sprintf("%s/%s/%d", f.Session, f.Source, f.Frame)
}

// CaptureTime returns CaptureUnixNano as a time.Time.
func (f *FrameScore) CaptureTime() time.Time { return time.Unix(0, f.CaptureUnixNano) }

// Marker is a stimulus/event marker: at media time OnsetMS the stimulus
// Label (of experimental Condition, optional) was shown.
type Marker struct {
	OnsetMS   float64 `json:"onset_ms"`
	Label     string  `json:"label"`
	Condition string  `json:"condition,omitempty"`
}

// Validate checks a marker.
func (m Marker) Validate() error {
	if math.IsNaN(m.OnsetMS) || math.IsInf(m.OnsetMS, 0) {
		return fmt.Errorf("marker onset %v ms is not a finite number", m.OnsetMS)
	}
	if strings.TrimSpace(m.Label) == "" {
		return errors.New("marker label is empty")
	}
	return nil
}
