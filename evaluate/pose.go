package evaluate

import (
	"fmt"
	"math"
)

// AngleAgreement compares one estimated angle with its labels, in degrees.
type AngleAgreement struct {
	// N is the number of faces compared.
	N int `json:"n"`
	// Pearson is the correlation of estimate and label.
	Pearson float64 `json:"pearson"`
	// MAE is the mean absolute difference |estimate - label|.
	MAE float64 `json:"mae_deg"`
	// Bias is the mean difference estimate - label.
	Bias float64 `json:"bias_deg"`
	// Slope is the least-squares slope of estimate on label (1 = same scale).
	Slope float64 `json:"slope"`
}

// PoseAgreement compares the estimated head pose (classify.HeadPose) with
// labelled yaw, pitch and roll.
type PoseAgreement struct {
	Yaw   AngleAgreement `json:"yaw"`
	Pitch AngleAgreement `json:"pitch"`
	Roll  AngleAgreement `json:"roll"`
}

// ComparePose compares the pose of every scored face (found by the detector,
// not the whole-image fallback; low-quality faces included) with its item's
// pose labels. It returns nil when no item has pose labels and a pose estimate.
func ComparePose(scores []Score) *PoseAgreement {
	var est, lab [3][]float64
	for _, sc := range scores {
		q := sc.Quality
		if sc.Err != nil || sc.NoFace || sc.Item.Pose == nil || q == nil || q.Yaw == nil || q.Pitch == nil || q.Roll == nil {
			continue
		}
		for k, v := range []float64{*q.Yaw, *q.Pitch, *q.Roll} {
			est[k] = append(est[k], v)
			lab[k] = append(lab[k], sc.Item.Pose[k])
		}
	}
	if len(est[0]) == 0 {
		return nil
	}
	return &PoseAgreement{Yaw: agree(est[0], lab[0]), Pitch: agree(est[1], lab[1]), Roll: agree(est[2], lab[2])}
}

func agree(est, lab []float64) AngleAgreement {
	n := float64(len(est))
	var me, ml float64
	for i := range est {
		me += est[i] / n
		ml += lab[i] / n
	}
	var see, sll, sel, mae float64
	for i := range est {
		de, dl := est[i]-me, lab[i]-ml
		see += de * de
		sll += dl * dl
		sel += de * dl
		mae += math.Abs(est[i]-lab[i]) / n
	}
	r := sel / math.Sqrt(see*sll)
	return AngleAgreement{N: len(est), Pearson: round4(r), MAE: round4(mae), Bias: round4(me - ml), Slope: round4(sel / sll)}
}

// Half keeps every other item in the data set's order: "odd" keeps the 1st,
// 3rd, ... (1-based), "even" the 2nd, 4th, ...; "" keeps all. GENKI-4K's
// odd-numbered files are the half on which choices about pose were made,
// the even-numbered ones the held-out half.
func Half(items []Item, half string) ([]Item, error) {
	var first int
	switch half {
	case "":
		return items, nil
	case "odd":
		first = 0
	case "even":
		first = 1
	default:
		return nil, fmt.Errorf("%w: half %q: choose odd or even", ErrDataset, half)
	}
	var out []Item
	for i := first; i < len(items); i += 2 {
		out = append(out, items[i])
	}
	return out, nil
}
