package evaluate

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/models"
)

// FitLogReg fits a logistic regression with an L2 penalty lambda on the
// weights (not the bias) by Newton's method. It is deterministic.
func FitLogReg(x [][]float64, y []bool, lambda float64) (models.LogReg, error) {
	return FitLogRegWeighted(x, y, nil, lambda)
}

// FitLogRegWeighted is FitLogReg with a weight per row (nil: all 1): it
// minimises Σ w_i · log-loss_i + lambda/2 · |weights|².
func FitLogRegWeighted(x [][]float64, y []bool, wt []float64, lambda float64) (models.LogReg, error) {
	if len(x) == 0 || len(x) != len(y) || (wt != nil && len(wt) != len(x)) {
		return models.LogReg{}, fmt.Errorf("%w: %d rows, %d labels and %d weights", ErrDataset, len(x), len(y), len(wt))
	}
	d := len(x[0])
	n := d + 1 // weights then bias
	beta := make([]float64, n)
	for range 100 {
		g := make([]float64, n)
		hess := make([][]float64, n)
		for i := range hess {
			hess[i] = make([]float64, n)
		}
		row := make([]float64, n)
		for i, xi := range x {
			copy(row, xi)
			row[d] = 1
			z := 0.0
			for j := range n {
				z += beta[j] * row[j]
			}
			p := classify.Sigmoid(z)
			t := 0.0
			if y[i] {
				t = 1
			}
			rw := 1.0
			if wt != nil {
				rw = wt[i]
			}
			w := rw * max(p*(1-p), 1e-12)
			for j := range n {
				g[j] += rw * (p - t) * row[j]
				for k := j; k < n; k++ {
					hess[j][k] += w * row[j] * row[k]
				}
			}
		}
		for j := range n {
			for k := 0; k < j; k++ {
				hess[j][k] = hess[k][j]
			}
			if j < d {
				g[j] += lambda * beta[j]
				hess[j][j] += lambda
			}
		}
		step, err := solve(hess, g)
		if err != nil {
			return models.LogReg{}, err
		}
		maxStep := 0.0
		for j := range n {
			beta[j] -= step[j]
			maxStep = max(maxStep, math.Abs(step[j]))
		}
		if maxStep < 1e-10 {
			break
		}
	}
	return models.LogReg{Weights: beta[:d:d], Bias: beta[d]}, nil
}

// solve solves a·s = b by Gaussian elimination with partial pivoting.
func solve(a [][]float64, b []float64) ([]float64, error) {
	n := len(b)
	m := make([][]float64, n)
	for i := range m {
		m[i] = append(append([]float64(nil), a[i]...), b[i])
	}
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		if math.Abs(m[p][c]) < 1e-300 {
			return nil, errors.New("evaluate: singular system in logistic regression")
		}
		m[c], m[p] = m[p], m[c]
		for r := range n {
			if r == c {
				continue
			}
			f := m[r][c] / m[c][c]
			for k := c; k <= n; k++ {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	s := make([]float64, n)
	for i := range n {
		s[i] = m[i][n] / m[i][i]
	}
	return s, nil
}

// seededPerm is a seeded permutation of 0..n-1.
func seededPerm(n int, seed uint64) []int {
	return rand.New(rand.NewPCG(seed, 0xf01d)).Perm(n)
}
