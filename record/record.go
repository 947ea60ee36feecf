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
	// ID is the face's track ID: the same face keeps it across frames and
	// short losses (see classify.FaceTracker); 0 when faces are not tracked
	// (images scored one by one).
	ID  int `json:"id,omitempty"`
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
	// Landmarks are the face's 68 landmarks in frame pixels (set by the
	// scorer when it found them). They stay in the capturing process: they
	// are not part of the published message (json "-"), and appear in result
	// files only as the optional x0..y67 columns of `affect score --landmarks`.
	Landmarks *Landmarks68 `json:"-"`
}

// Point is a position in frame pixels (x to the right, y down; the frame's
// top-left corner is 0,0).
type Point struct {
	X, Y float64
}

// Landmarks68 are the 68 facial landmarks of one face in frame pixels, in
// the iBUG 300-W order (the subject's right is the image's left): jaw 0-16
// (chin 8), right brow 17-21, left brow 22-26, nose bridge 27-30 (tip 30),
// nostrils 31-35, right eye 36-41 (outer corner 36, inner 39), left eye
// 42-47 (inner 42, outer 45), outer lips 48-59 (mouth corners 48 and 54,
// upper lip top 51, lower lip bottom 57), inner lips 60-67 (corners 60 and
// 64, upper 62, lower 66).
type Landmarks68 [68]Point

// RightEye returns the centre of the subject's right eye (points 36-41, on
// the image's left).
func (l *Landmarks68) RightEye() Point { return l.mean(36, 42) }

// LeftEye returns the centre of the subject's left eye (points 42-47).
func (l *Landmarks68) LeftEye() Point { return l.mean(42, 48) }

// EyeDistance returns the distance between the two eye centres in pixels.
func (l *Landmarks68) EyeDistance() float64 {
	a, b := l.RightEye(), l.LeftEye()
	return math.Hypot(b.X-a.X, b.Y-a.Y)
}

func (l *Landmarks68) mean(from, to int) Point {
	var p Point
	for i := from; i < to; i++ {
		p.X += l[i].X
		p.Y += l[i].Y
	}
	n := float64(to - from)
	return Point{p.X / n, p.Y / n}
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
	// (-1..1); a turned or half-shadowed face is lower. No longer part of
	// the quality rule (pose from landmarks is), kept as a measure.
	Symmetry float64 `json:"symmetry,omitempty"`
	// Yaw, Pitch and Roll are the head's pose in degrees, estimated from the
	// face's 68 landmarks (classify.HeadPose): yaw positive when the face
	// turns toward the image's right, pitch positive when it turns up, roll
	// positive when it tilts clockwise in the image (GENKI-4K's signs).
	// Absent when no landmarks were found.
	Yaw   *float64 `json:"yaw,omitempty"`
	Pitch *float64 `json:"pitch,omitempty"`
	Roll  *float64 `json:"roll,omitempty"`
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
	// FaceID is the participant's track ID (Primary.ID), 0 when FaceFound
	// is false or faces are not tracked.
	FaceID int `json:"face_id,omitempty"`
	// Faces are all faces found, largest first.
	Faces []Face `json:"faces,omitempty"`
	// Error, when set, says why this frame could not be scored; the frame still counts.
	Error string `json:"error,omitempty"`
	// File is the image file of the frame when the source is a folder of
	// images or one image (empty for video, cameras and streams).
	File string `json:"file,omitempty"`
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

// Gap is a stretch of a live source (camera or stream) without frames: it
// stopped delivering (it went away, or stalled past the read deadline) and
// was reopened, or was not back in time (Recovered false: the source was
// lost and capture ended there).
type Gap struct {
	// FromMS is the media time of the last frame before the gap (0 when none came).
	FromMS float64 `json:"from_ms"`
	// ToMS is the media time of the first frame after it, or of giving up.
	ToMS float64 `json:"to_ms"`
	// LostFrames estimates the frames the source would have delivered in the
	// gap, from its nominal frame rate; -1 when the rate is unknown.
	LostFrames int64 `json:"lost_frames"`
	// Reason says what happened ("stream ended", "no frame for 5s", ...).
	Reason string `json:"reason"`
	// Recovered says whether the source delivered frames again.
	Recovered bool `json:"recovered"`
}

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

// ErrBadSession is wrapped by ValidateSession's errors.
var ErrBadSession = errors.New("invalid session name")

// MaxSessionLen is the longest session name accepted.
const MaxSessionLen = 64

// ValidateSession checks that name can be one NATS subject token and a
// consumer name: 1 to MaxSessionLen characters from letters, digits, '-' and '_'.
func ValidateSession(name string) error {
	if name == "" {
		return fmt.Errorf("%w: the session name is empty; give one with --session (letters, digits, '-' and '_')", ErrBadSession)
	}
	if len(name) > MaxSessionLen {
		return fmt.Errorf("%w: %q is longer than %d characters", ErrBadSession, name, MaxSessionLen)
	}
	for _, r := range name {
		ok := r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			what := fmt.Sprintf("%q", r)
			switch r {
			case '.':
				what = "a dot (it separates NATS subject tokens)"
			case '*', '>':
				what = fmt.Sprintf("%q (a NATS wildcard)", r)
			case ' ', '\t', '\n', '\r':
				what = "white space"
			}
			return fmt.Errorf("%w: %q contains %s; use only letters, digits, '-' and '_'", ErrBadSession, name, what)
		}
	}
	return nil
}
