package evaluate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/smooth"
	"gocv.io/x/gocv"
)

// Score is one image's result.
type Score struct {
	Item
	// Happiness is the largest face's score (or the whole image's, see NoFace).
	Happiness float64
	// Probs are the seven class probabilities (record.Labels order).
	Probs [7]float64
	// NoFace is true when no face was found: an image is then scored whole;
	// a video frame is not scored (Excluded).
	NoFace bool
	// Frame is the frame index in a video item, -1 for an image.
	Frame int64
	// TimeMS is the frame's media time in a video item.
	TimeMS float64
	// Excluded marks a video frame without a face (counted in
	// Result.NoFace), or a low-quality face left out by ExcludeLowQuality:
	// it is left out of every figure.
	Excluded bool
	// LowQuality says the face fails the quality rule (classify.QualityLow).
	LowQuality bool
	// Quality are the face's quality measures (nil without a face).
	Quality *record.Quality
	// Err is set when the image could not be read or scored.
	Err error
}

// Result are the figures of one model and backend on one data set.
type Result struct {
	Model      string `json:"model"`
	Backend    string `json:"backend"`
	N          int    `json:"n"`
	Positives  int    `json:"positives"`
	NoFace     int    `json:"no_face"`
	LowQuality int    `json:"low_quality"`
	// ExcludedLow is how many low-quality faces were left out (ExcludeLowQuality).
	ExcludedLow int     `json:"excluded_low_quality,omitempty"`
	Unreadable  int     `json:"unreadable"`
	AUC         float64 `json:"auc"`
	Threshold   float64 `json:"threshold"`
	BalancedAcc float64 `json:"balanced_accuracy"`
	ECE         float64 `json:"ece"`
	// Reliability is the reliability curve behind ECE (10 equal-width bins
	// of the score; bins without data are left out).
	Reliability []ReliabilityBin `json:"reliability,omitempty"`
	// Clips are the per-video figures when the data set has videos.
	Clips []Clip `json:"clips,omitempty"`
	// SmoothMS is the centred window (ms) by which video frames were scored
	// (SmoothVideos); 0 when they were not smoothed.
	SmoothMS float64 `json:"smooth_ms,omitempty"`
	// Unsmoothed are the figures of the same frames before smoothing.
	Unsmoothed *Result `json:"unsmoothed,omitempty"`
	// Pose compares the estimated head pose with the data set's pose labels
	// (when it has them, e.g. GENKI-4K).
	Pose *PoseAgreement `json:"pose,omitempty"`
}

// Clip summarises one video item: its frames with a face and their mean happiness.
type Clip struct {
	Path          string  `json:"path"`
	Happy         bool    `json:"happy"`
	Frames        int     `json:"frames"`
	FaceFrames    int     `json:"face_frames"`
	MeanHappiness float64 `json:"mean_happiness"`
}

// Sample keeps at most n items per class, chosen with a fixed seed, so a
// quick evaluation is reproducible. n ≤ 0 keeps everything.
func Sample(items []Item, n int, seed uint64) []Item {
	if n <= 0 {
		return items
	}
	byClass := map[string][]Item{}
	var classes []string
	for _, it := range items {
		if _, ok := byClass[it.Class]; !ok {
			classes = append(classes, it.Class)
		}
		byClass[it.Class] = append(byClass[it.Class], it)
	}
	sort.Strings(classes)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var out []Item
	for _, c := range classes {
		v := byClass[c]
		r.Shuffle(len(v), func(i, j int) { v[i], v[j] = v[j], v[i] })
		out = append(out, v[:min(n, len(v))]...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// VideoExts are the file extensions an evaluation item is read as a video
// with; every frame of a video gets the video's label.
var VideoExts = map[string]bool{".mp4": true, ".avi": true, ".mov": true, ".mkv": true, ".webm": true, ".m4v": true, ".mpg": true, ".mpeg": true}

// IsVideo says whether path is read as a video.
func IsVideo(path string) bool { return VideoExts[strings.ToLower(filepath.Ext(path))] }

// ScoreItems scores every item with one Scorer per worker. With p.Crops the
// images are face crops; otherwise the largest face is scored and, when none
// is found, the whole image (counted as NoFace). A video item gives one Score
// per frame: faces are followed by a classify.FaceTracker, and frames without
// a face are Excluded. Scores are in item order, then frame order.
func ScoreItems(ctx context.Context, items []Item, p classify.ScorerParams, workers int, progress func(int)) ([]Score, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	p.FallbackWholeImage = !p.Crops
	scorers := make([]*classify.Scorer, 0, workers)
	defer func() {
		for _, s := range scorers {
			s.Close()
		}
	}()
	for range workers {
		s, err := classify.NewScorer(p)
		if err != nil {
			return nil, err
		}
		scorers = append(scorers, s)
	}
	res := make([][]Score, len(items))
	err := parallel(ctx, scorers, len(items), progress, func(s *classify.Scorer, next <-chan int, tick func()) {
		for i := range next {
			if IsVideo(items[i].Path) {
				res[i] = scoreVideo(ctx, s, p, items[i])
			} else {
				res[i] = []Score{scoreOne(s, items[i])}
			}
			tick()
		}
	})
	var out []Score
	for _, r := range res {
		out = append(out, r...)
	}
	return out, err
}

// scoreVideo scores every frame of a video item (face found by a FaceTracker).
func scoreVideo(ctx context.Context, s *classify.Scorer, p classify.ScorerParams, it Item) []Score {
	src, err := capture.Open(it.Path)
	if err != nil {
		return []Score{{Item: it, Frame: -1, Err: err}}
	}
	defer src.Close()
	tr, err := classify.NewFaceTrackerFor(p)
	if err != nil {
		return []Score{{Item: it, Frame: -1, Err: err}}
	}
	defer tr.Close()
	var out []Score
	for {
		f, err := src.Next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				out = append(out, Score{Item: it, Frame: -1, Err: err})
			}
			return out
		}
		r := Score{Item: it, Frame: f.Index, TimeMS: f.TimeMS}
		switch {
		case f.Err != nil:
			r.Err = f.Err
		default:
			det := tr.Next(f.Image)
			if det.Primary < 0 {
				r.NoFace, r.Excluded = true, true
				break
			}
			faces, err := s.ScoreFaces(f.Image, det.Faces[det.Primary:det.Primary+1])
			if err != nil {
				r.Err = err
				break
			}
			r.Happiness, r.Probs = faces[0].Happiness, faces[0].Probs
			r.LowQuality = faces[0].Quality != nil && faces[0].Quality.Low
			r.Quality = faces[0].Quality
		}
		f.Close()
		out = append(out, r)
	}
}

func scoreOne(s *classify.Scorer, it Item) Score {
	r := Score{Item: it, Frame: -1}
	img := gocv.IMRead(it.Path, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		r.Err = fmt.Errorf("cannot read image %s", it.Path)
		return r
	}
	faces, err := s.Score(img)
	if err != nil {
		r.Err = err
		return r
	}
	if len(faces) == 0 {
		r.Err = fmt.Errorf("no face and no fallback in %s", it.Path)
		return r
	}
	f := faces[0]
	r.Happiness, r.Probs = f.Happiness, f.Probs
	r.LowQuality = f.Quality != nil && f.Quality.Low
	r.Quality = f.Quality
	// The fallback to the whole image is the only "face" that is the whole frame.
	r.NoFace = !s.Params().Crops && f.Box == (record.Box{W: img.Cols(), H: img.Rows()})
	return r
}

// Summarize computes the figures over the readable scores.
func Summarize(scores []Score, model, backend string, threshold float64) Result {
	res := Result{Model: model, Backend: backend, Threshold: threshold}
	var s []float64
	var l []bool
	for _, sc := range scores {
		if sc.Err != nil {
			res.Unreadable++
			continue
		}
		if sc.NoFace {
			res.NoFace++
		}
		if sc.LowQuality {
			res.LowQuality++
			if sc.Excluded {
				res.ExcludedLow++
			}
		}
		if sc.Excluded {
			continue
		}
		s = append(s, sc.Happiness)
		l = append(l, sc.Happy)
		if sc.Happy {
			res.Positives++
		}
	}
	res.N = len(s)
	res.AUC = round4(AUC(s, l))
	res.BalancedAcc = round4(BalancedAccuracy(s, l, threshold))
	res.ECE = round4(ECE(s, l, 10))
	res.Reliability = Reliability(s, l, 10)
	res.Clips = clips(scores)
	res.Pose = ComparePose(scores)
	return res
}

func round4(x float64) float64 {
	if math.IsNaN(x) {
		return x
	}
	return math.Round(x*1e4) / 1e4
}

func clips(scores []Score) []Clip {
	var out []Clip
	idx := map[string]int{}
	sums := map[string]float64{}
	for _, sc := range scores {
		if sc.Frame < 0 {
			continue
		}
		i, ok := idx[sc.Path]
		if !ok {
			i = len(out)
			idx[sc.Path] = i
			out = append(out, Clip{Path: sc.Path, Happy: sc.Happy})
		}
		out[i].Frames++
		if sc.Err == nil && !sc.Excluded {
			out[i].FaceFrames++
			sums[sc.Path] += sc.Happiness
		}
	}
	for i := range out {
		if out[i].FaceFrames > 0 {
			out[i].MeanHappiness = round4(sums[out[i].Path] / float64(out[i].FaceFrames))
		}
	}
	return out
}

// ExcludeLowQuality leaves every face that fails the quality rule out of
// the figures (and out of SmoothVideos' averages), as a researcher would
// with low_quality=1 rows of the per-frame CSV.
func ExcludeLowQuality(scores []Score) {
	for i := range scores {
		if scores[i].LowQuality {
			scores[i].Excluded = true
		}
	}
}

// HasVideo says whether any score is of a video frame.
func HasVideo(scores []Score) bool {
	for _, sc := range scores {
		if sc.Frame >= 0 {
			return true
		}
	}
	return false
}

// SmoothVideos replaces the happiness of every video frame by the centred
// moving average over windowMS of its video's frames with a face (package
// smooth, as in the result files' happiness_smoothed column). Images are
// left alone. scores must be in the order ScoreItems returns.
func SmoothVideos(scores []Score, windowMS float64) error {
	for i := 0; i < len(scores); {
		j := i
		for j < len(scores) && scores[j].Path == scores[i].Path {
			j++
		}
		if scores[i].Frame >= 0 {
			frames := make([]record.FrameScore, j-i)
			for k := i; k < j; k++ {
				sc := scores[k]
				frames[k-i] = record.FrameScore{Frame: sc.Frame, MediaMS: sc.TimeMS}
				if !sc.Excluded && sc.Err == nil {
					frames[k-i].FaceFound = true
					frames[k-i].Primary = &record.Face{Happiness: sc.Happiness}
				}
			}
			if err := smooth.Frames(frames, windowMS); err != nil {
				return err
			}
			for k := i; k < j; k++ {
				if p := frames[k-i].Primary; p != nil && p.Smoothed != nil {
					scores[k].Happiness = *p.Smoothed
				}
			}
		}
		i = j
	}
	return nil
}
