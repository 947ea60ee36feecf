package evaluate

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestAUC(t *testing.T) {
	tests := []struct {
		name   string
		scores []float64
		labels []bool
		want   float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1},
		{"inverted", []float64{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0},
		// pairs (pos,neg): (0.4>0.3)=1,(0.4<0.5)=0,(0.6>0.3)=1,(0.6>0.5)=1 -> 3/4
		{"by hand", []float64{0.3, 0.4, 0.5, 0.6}, []bool{false, true, false, true}, 0.75},
		// a tie between a positive and a negative counts one half: (0.5=0.5)=.5,(0.5>0.2)=1 -> .75
		{"tie", []float64{0.5, 0.5, 0.2}, []bool{true, false, false}, 0.75},
		{"one class", []float64{0.5, 0.6}, []bool{true, true}, math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AUC(tc.scores, tc.labels)
			if !(got == tc.want || math.IsNaN(got) && math.IsNaN(tc.want)) {
				t.Fatalf("AUC = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBalancedAccuracy(t *testing.T) {
	// positives 0.9, 0.6, 0.4 -> 2/3 sensitivity at 0.5; negatives 0.1, 0.7 -> 1/2 specificity.
	s := []float64{0.9, 0.6, 0.4, 0.1, 0.7}
	l := []bool{true, true, true, false, false}
	if got, want := BalancedAccuracy(s, l, 0.5), (2.0/3+0.5)/2; math.Abs(got-want) > 1e-12 {
		t.Fatalf("got %v want %v", got, want)
	}
	if got := BalancedAccuracy(s, l, 0.95); got != 0.5 {
		t.Fatalf("all-negative prediction: got %v want 0.5", got)
	}
}

func TestECE(t *testing.T) {
	// Bin [0.9,1): scores 0.95,0.95 with 1 positive: |0.95-0.5| = 0.45, weight 2/4.
	// Bin [0.1,0.2): scores 0.15,0.15 with 0 positives: |0.15-0| = 0.15, weight 2/4.
	s := []float64{0.95, 0.95, 0.15, 0.15}
	l := []bool{true, false, false, false}
	if got, want := ECE(s, l, 10), 0.5*0.45+0.5*0.15; math.Abs(got-want) > 1e-12 {
		t.Fatalf("ECE = %v, want %v", got, want)
	}
	r := Reliability(s, l, 10)
	if len(r) != 2 || r[0].N != 2 || r[1].Positive != 0.5 {
		t.Fatalf("reliability = %+v", r)
	}
	// A perfectly calibrated score has ECE 0.
	if got := ECE([]float64{1, 0}, []bool{true, false}, 10); got != 0 {
		t.Fatalf("ECE = %v, want 0", got)
	}
}

func TestPairedBootstrap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	n := 2000
	l := make([]bool, n)
	good, noisy := make([]float64, n), make([]float64, n)
	for i := range l {
		l[i] = i%4 == 0
		y := 0.0
		if l[i] {
			y = 1
		}
		good[i] = y + rng.NormFloat64()*0.5
		noisy[i] = y + rng.NormFloat64()*1.5
	}
	auc, ba, err := PairedBootstrap(good, noisy, l, 0.5, 500, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !(auc.Diff > 0 && auc.Lo > 0 && auc.Lo <= auc.Diff && auc.Diff <= auc.Hi && auc.PNotAbove == 0) {
		t.Errorf("clearly better scores: AUC difference %+v, want an interval above 0", auc)
	}
	if !(ba.Lo > 0 && ba.Lo <= ba.Diff && ba.Diff <= ba.Hi) {
		t.Errorf("clearly better scores: BA difference %+v, want an interval above 0", ba)
	}
	// A score compared with itself: difference 0, interval [0, 0].
	same, _, err := PairedBootstrap(good, good, l, 0.5, 100, 1)
	if err != nil || same.Diff != 0 || same.Lo != 0 || same.Hi != 0 || same.PNotAbove != 1 {
		t.Errorf("self comparison %+v (%v), want all 0 and PNotAbove 1", same, err)
	}
	// Seeded: the same call gives the same interval.
	again, _, _ := PairedBootstrap(good, noisy, l, 0.5, 500, 1)
	if again != auc {
		t.Errorf("not reproducible: %+v then %+v", auc, again)
	}
	if _, _, err := PairedBootstrap(good, noisy[:10], l, 0.5, 100, 1); err == nil {
		t.Error("unequal lengths: no error")
	}
}
