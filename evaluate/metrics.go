// Package evaluate measures how well happiness scores separate happy from
// not-happy faces: labelled image sets (a manifest or a folder per class),
// ROC AUC, balanced accuracy at a threshold and expected calibration error.
package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// AUC is the area under the ROC curve of scores for labels (true =
// positive): the probability that a random positive scores above a random
// negative, ties counting one half. NaN when a class is missing.
func AUC(scores []float64, labels []bool) float64 {
	type sl struct {
		s float64
		l bool
	}
	v := make([]sl, len(scores))
	var pos, neg float64
	for i := range scores {
		v[i] = sl{scores[i], labels[i]}
		if labels[i] {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	sort.Slice(v, func(i, j int) bool { return v[i].s < v[j].s })
	// Mann-Whitney U with average ranks for ties.
	var rankSum float64
	for i := 0; i < len(v); {
		j := i
		for j < len(v) && v[j].s == v[i].s {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if v[k].l {
				rankSum += avg
			}
		}
		i = j
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// BalancedAccuracy is the mean of sensitivity and specificity when score ≥
// threshold predicts positive. NaN when a class is missing.
func BalancedAccuracy(scores []float64, labels []bool, threshold float64) float64 {
	var tp, fn, tn, fp float64
	for i, s := range scores {
		pred := s >= threshold
		switch {
		case labels[i] && pred:
			tp++
		case labels[i]:
			fn++
		case pred:
			fp++
		default:
			tn++
		}
	}
	if tp+fn == 0 || tn+fp == 0 {
		return math.NaN()
	}
	return (tp/(tp+fn) + tn/(tn+fp)) / 2
}

// ECE is the expected calibration error with equal-width bins over [0,1]:
// the frame-weighted mean of |mean score - share of positives| per bin.
func ECE(scores []float64, labels []bool, bins int) float64 {
	if len(scores) == 0 || bins < 1 {
		return math.NaN()
	}
	n := make([]float64, bins)
	sum := make([]float64, bins)
	pos := make([]float64, bins)
	for i, s := range scores {
		b := min(int(s*float64(bins)), bins-1)
		b = max(b, 0)
		n[b]++
		sum[b] += s
		if labels[i] {
			pos[b]++
		}
	}
	var e float64
	for b := range n {
		if n[b] > 0 {
			e += n[b] * math.Abs(sum[b]/n[b]-pos[b]/n[b])
		}
	}
	return e / float64(len(scores))
}

// ReliabilityBin is one bin of a reliability curve.
type ReliabilityBin struct {
	Lo        float64 `json:"lo"`
	Hi        float64 `json:"hi"`
	N         int     `json:"n"`
	MeanScore float64 `json:"mean_score"`
	Positive  float64 `json:"positive_share"`
}

// Reliability returns the reliability curve (bins with data only).
func Reliability(scores []float64, labels []bool, bins int) []ReliabilityBin {
	out := make([]ReliabilityBin, bins)
	for i, s := range scores {
		b := max(min(int(s*float64(bins)), bins-1), 0)
		out[b].N++
		out[b].MeanScore += s
		if labels[i] {
			out[b].Positive++
		}
	}
	res := out[:0]
	for b, r := range out {
		if r.N == 0 {
			continue
		}
		r.Lo, r.Hi = float64(b)/float64(bins), float64(b+1)/float64(bins)
		r.MeanScore /= float64(r.N)
		r.Positive /= float64(r.N)
		res = append(res, r)
	}
	return res
}

// Difference is a paired comparison of two scores of the same items: the
// observed difference A − B of a figure and its bootstrap 95 % interval.
type Difference struct {
	Diff, Lo, Hi float64
	// PNotAbove is the share of bootstrap resamples in which A − B ≤ 0
	// (a one-sided bootstrap p-value for "A is better than B").
	PNotAbove float64
}

// PairedBootstrap compares scores a and b of the same items (labels l) on
// ROC AUC and on balanced accuracy at threshold: it resamples the items with
// replacement n times (seeded, so the result is reproducible) and reports
// the percentile 95 % interval of each difference.
func PairedBootstrap(a, b []float64, l []bool, threshold float64, n int, seed uint64) (auc, ba Difference, err error) {
	if len(a) != len(b) || len(a) != len(l) || len(a) == 0 || n < 10 {
		return auc, ba, fmt.Errorf("%w: paired bootstrap needs equal, non-empty score lists and ≥ 10 resamples", ErrDataset)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	ra, rb := make([]float64, len(a)), make([]float64, len(a))
	rl := make([]bool, len(a))
	da, db := make([]float64, 0, n), make([]float64, 0, n)
	for len(da) < n {
		for i := range ra {
			k := rng.IntN(len(a))
			ra[i], rb[i], rl[i] = a[k], b[k], l[k]
		}
		x := AUC(ra, rl) - AUC(rb, rl)
		y := BalancedAccuracy(ra, rl, threshold) - BalancedAccuracy(rb, rl, threshold)
		if math.IsNaN(x) || math.IsNaN(y) {
			continue // a resample with one class only
		}
		da, db = append(da, x), append(db, y)
	}
	summ := func(obs float64, d []float64) Difference {
		slices.Sort(d)
		notAbove := 0
		for _, v := range d {
			if v <= 0 {
				notAbove++
			}
		}
		return Difference{Diff: obs, Lo: d[int(0.025*float64(len(d)))], Hi: d[min(int(0.975*float64(len(d))), len(d)-1)],
			PNotAbove: float64(notAbove) / float64(len(d))}
	}
	auc = summ(AUC(a, l)-AUC(b, l), da)
	ba = summ(BalancedAccuracy(a, l, threshold)-BalancedAccuracy(b, l, threshold), db)
	return auc, ba, nil
}
