package classify

import (
	"image"
	"math"
)

// groupEps is OpenCV's GROUP_EPS: how far apart, as a fraction of their
// size, two raw cascade hits may be and still count as the same face.
const groupEps = 0.2

// groupHits merges raw cascade hits (DetectMultiScale with minNeighbors 0)
// into faces exactly as OpenCV's groupRectangles does for
// CascadeClassifier::detectMultiScale (same clusters, same averaged boxes,
// same rules for dropping clusters), and also returns each face's number of
// hits, which OpenCV computes but gocv does not expose. A face needs more
// than minNeighbors hits. The faces come in OpenCV's order.
func groupHits(hits []image.Rectangle, minNeighbors int) []Detection {
	return selectFaces(cluster(hits), minNeighbors)
}

// selectFaces keeps the clusters that OpenCV's groupRectangles keeps: more
// than minNeighbors hits, and not a smaller face inside a stronger one.
func selectFaces(clusters []Detection, minNeighbors int) []Detection {
	var out []Detection
	for i, c1 := range clusters {
		r1, n1 := c1.Box, c1.Neighbors
		if n1 <= minNeighbors {
			continue
		}
		inside := false
		for j, c2 := range clusters {
			r2, n2 := c2.Box, c2.Neighbors
			if j == i || n2 <= minNeighbors {
				continue
			}
			dx := cvRound64(float64(r2.Dx()) * groupEps)
			dy := cvRound64(float64(r2.Dy()) * groupEps)
			if r1.Min.X >= r2.Min.X-dx && r1.Min.Y >= r2.Min.Y-dy &&
				r1.Max.X <= r2.Max.X+dx && r1.Max.Y <= r2.Max.Y+dy &&
				(n2 > max(3, n1) || n1 < 3) {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, c1)
		}
	}
	return out
}

// cluster partitions hits into groups of similar boxes (OpenCV's
// partition with SimilarRects) and returns each group's averaged box and
// size, in order of each group's first hit.
func cluster(hits []image.Rectangle) []Detection {
	if len(hits) == 0 {
		return nil
	}
	labels, n := partition(hits)
	type acc struct{ x, y, w, h, n int }
	sums := make([]acc, n)
	for i, l := range labels {
		r := hits[i]
		sums[l].x += r.Min.X
		sums[l].y += r.Min.Y
		sums[l].w += r.Dx()
		sums[l].h += r.Dy()
		sums[l].n++
	}
	out := make([]Detection, n)
	for i, s := range sums {
		// OpenCV: Rect(saturate_cast<int>(r.x*s), ...) with float s = 1.f/n,
		// i.e. float32 arithmetic rounded half to even.
		k := 1 / float32(s.n)
		x, y := cvRound32(float32(s.x)*k), cvRound32(float32(s.y)*k)
		out[i] = Detection{Box: image.Rect(x, y, x+cvRound32(float32(s.w)*k), y+cvRound32(float32(s.h)*k)), Neighbors: s.n}
	}
	return out
}

// similar is OpenCV's SimilarRects predicate with groupEps.
func similar(a, b image.Rectangle) bool {
	delta := groupEps * float64(min(a.Dx(), b.Dx())+min(a.Dy(), b.Dy())) * 0.5
	return math.Abs(float64(a.Min.X-b.Min.X)) <= delta &&
		math.Abs(float64(a.Min.Y-b.Min.Y)) <= delta &&
		math.Abs(float64(a.Max.X-b.Max.X)) <= delta &&
		math.Abs(float64(a.Max.Y-b.Max.Y)) <= delta
}

// partition labels the connected components of the similar relation,
// numbering them in order of their first member (as cv::partition does).
func partition(rs []image.Rectangle) ([]int, int) {
	parent := make([]int, len(rs))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i := range rs {
		for j := i + 1; j < len(rs); j++ {
			if similar(rs[i], rs[j]) {
				if a, b := find(i), find(j); a != b {
					parent[b] = a
				}
			}
		}
	}
	labels := make([]int, len(rs))
	ids := map[int]int{}
	for i := range rs {
		root := find(i)
		id, ok := ids[root]
		if !ok {
			id = len(ids)
			ids[root] = id
		}
		labels[i] = id
	}
	return labels, len(ids)
}

// cvRound32 and cvRound64 round half to even, as cvRound does.
func cvRound32(v float32) int { return int(math.RoundToEven(float64(v))) }
func cvRound64(v float64) int { return int(math.RoundToEven(v)) }
