package evaluate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"

	"github.com/affectlab/affect/classify"
	"gocv.io/x/gocv"
)

// Score is one image's result.
type Score struct {
	Item
	// Happiness is the largest face's score (or the whole image's, see NoFace).
	Happiness float64
	// Probs are the seven class probabilities (pipeline.Labels order).
	Probs [7]float64
	// NoFace is true when no face was found and the whole image was scored.
	NoFace bool
	// Err is set when the image could not be read or scored.
	Err error
}

// Result are the figures of one model and backend on one data set.
type Result struct {
	Model       string  `json:"model"`
	Backend     string  `json:"backend"`
	N           int     `json:"n"`
	Positives   int     `json:"positives"`
	NoFace      int     `json:"no_face"`
	Unreadable  int     `json:"unreadable"`
	AUC         float64 `json:"auc"`
	Threshold   float64 `json:"threshold"`
	BalancedAcc float64 `json:"balanced_accuracy"`
	ECE         float64 `json:"ece"`
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

// ScoreItems scores every item with one Scorer per worker. With p.Crops the
// images are face crops; otherwise the largest face is scored and, when none
// is found, the whole image (counted as NoFace).
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
	out := make([]Score, len(items))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for _, s := range scorers {
		wg.Add(1)
		go func(s *classify.Scorer) {
			defer wg.Done()
			for i := range next {
				out[i] = scoreOne(s, items[i])
				if progress != nil {
					mu.Lock()
					done++
					progress(done)
					mu.Unlock()
				}
			}
		}(s)
	}
	var err error
loop:
	for i := range items {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break loop
		}
	}
	close(next)
	wg.Wait()
	return out, err
}

func scoreOne(s *classify.Scorer, it Item) Score {
	r := Score{Item: it}
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
	r.NoFace = f.Quality != nil && f.Quality.Low
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
	return res
}

func round4(x float64) float64 {
	if math.IsNaN(x) {
		return x
	}
	return math.Round(x*1e4) / 1e4
}
