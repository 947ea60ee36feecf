package classify

import (
	"math"
)

// Pose is a head's orientation relative to the camera, in degrees, with the
// sign conventions of GENKI-4K's labels (checked on its fit split, see
// models/README.md "Head pose"):
//
//   - Yaw: turning about the vertical axis; positive when the face turns
//     toward the image's right (the subject's left), i.e. the nose moves
//     right of the eyes' midpoint in the image.
//   - Pitch: nodding about the horizontal axis; positive when the face turns
//     up (chin forward), i.e. the nose tip moves up toward the eyes in the image.
//   - Roll: in-plane tilt; positive when the head tilts clockwise in the
//     image (the subject's left eye, on the image's right, lower).
type Pose struct {
	Yaw, Pitch, Roll float64
	// Residual is the root-mean-square distance between the fitted model's
	// points and the landmarks, as a fraction of the distance between the
	// eye centres: how well the landmarks fit a face at all.
	Residual float64
}

// poseModel is a generic 3D face: six points in a head-fixed frame (x to the
// image's right for a frontal face, y up, z toward the camera; the nose tip
// at the origin; arbitrary units, about 1/3 mm). These are the proportions of
// an average adult face commonly used for head-pose estimation from six
// landmarks (eye outer corners, nose tip, mouth corners, chin).
var poseModel = []struct {
	index   int
	x, y, z float64
}{
	{LandmarkNoseTip, 0, 0, 0},
	{LandmarkChin, 0, -330, -65},
	{LandmarkRightEyeOuter, -225, 170, -135},
	{LandmarkLeftEyeOuter, 225, 170, -135},
	{LandmarkMouthRight, -150, -150, -125},
	{LandmarkMouthLeft, 150, -150, -125},
}

// rotation returns R = Rz(roll) · Rx(pitch) · Ry(yaw) (radians) for the
// head-fixed frame above (y up, z toward the camera).
func rotation(yaw, pitch, roll float64) [3][3]float64 {
	cy, sy := math.Cos(yaw), math.Sin(yaw)
	cp, sp := math.Cos(pitch), math.Sin(pitch)
	cr, sr := math.Cos(roll), math.Sin(roll)
	ry := [3][3]float64{{cy, 0, sy}, {0, 1, 0}, {-sy, 0, cy}}
	rx := [3][3]float64{{1, 0, 0}, {0, cp, -sp}, {0, sp, cp}}
	rz := [3][3]float64{{cr, -sr, 0}, {sr, cr, 0}, {0, 0, 1}}
	return mul3(rz, mul3(rx, ry))
}

func mul3(a, b [3][3]float64) [3][3]float64 {
	var c [3][3]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				c[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return c
}

// HeadPose estimates the head's yaw, pitch and roll from its 68 landmarks by
// fitting the generic 3D face above under scaled orthographic projection
// (the face is small against its distance from the camera): rotation, scale
// and image shift minimising the squared distances to the six landmarks,
// by damped Gauss-Newton from a frontal start. It is deterministic and
// allocates nothing.
func HeadPose(l *Landmarks68) Pose {
	const n = 6
	// Image points with y up, centred.
	var u [n][2]float64
	var mu [2]float64
	for i, m := range poseModel {
		u[i] = [2]float64{l[m.index].X, -l[m.index].Y}
		mu[0] += u[i][0] / n
		mu[1] += u[i][1] / n
	}
	spread := 0.0
	for i := range u {
		u[i][0] -= mu[0]
		u[i][1] -= mu[1]
		spread += u[i][0]*u[i][0] + u[i][1]*u[i][1]
	}
	eye := l.EyeDistance()
	if spread == 0 || eye == 0 {
		return Pose{Residual: math.Inf(1)}
	}
	mspread := 0.0
	var pm [3]float64
	for _, m := range poseModel {
		pm[0] += m.x / n
		pm[1] += m.y / n
		pm[2] += m.z / n
	}
	for _, m := range poseModel {
		mspread += (m.x-pm[0])*(m.x-pm[0]) + (m.y-pm[1])*(m.y-pm[1])
	}
	// Parameters: yaw, pitch, roll (radians), log scale, shift x, shift y.
	// Start: frontal, rolled by the eye line's angle (y up), scaled by the spread.
	le, re := l.LeftEye(), l.RightEye()
	p := [6]float64{0, 0, math.Atan2(-(le.Y - re.Y), le.X-re.X), math.Log(math.Sqrt(spread / mspread)), 0, 0}
	residuals := func(p [6]float64) [2 * n]float64 {
		r := rotation(p[0], p[1], p[2])
		s := math.Exp(p[3])
		var out [2 * n]float64
		for i, m := range poseModel {
			x, y, z := m.x-pm[0], m.y-pm[1], m.z-pm[2]
			px := s*(r[0][0]*x+r[0][1]*y+r[0][2]*z) + p[4]
			py := s*(r[1][0]*x+r[1][1]*y+r[1][2]*z) + p[5]
			out[2*i] = px - u[i][0]
			out[2*i+1] = py - u[i][1]
		}
		return out
	}
	cost := func(r [2 * n]float64) float64 {
		c := 0.0
		for _, v := range r {
			c += v * v
		}
		return c
	}
	lambda := 1e-3
	r := residuals(p)
	c := cost(r)
	for iter := 0; iter < 100; iter++ {
		// Numerical Jacobian (central differences).
		var j [2 * n][6]float64
		for k := 0; k < 6; k++ {
			h := 1e-6
			if k >= 4 {
				h = 1e-6 * eye
			}
			a, b := p, p
			a[k] += h
			b[k] -= h
			ra, rb := residuals(a), residuals(b)
			for i := range ra {
				j[i][k] = (ra[i] - rb[i]) / (2 * h)
			}
		}
		// Normal equations (J'J + lambda diag) d = -J'r.
		var a [6][7]float64
		for x := 0; x < 6; x++ {
			for y := 0; y < 6; y++ {
				for i := range j {
					a[x][y] += j[i][x] * j[i][y]
				}
			}
			for i := range j {
				a[x][6] -= j[i][x] * r[i]
			}
		}
		for x := 0; x < 6; x++ {
			a[x][x] *= 1 + lambda
		}
		d, ok := solve6(a)
		if !ok {
			break
		}
		var q [6]float64
		step := 0.0
		for k := range q {
			q[k] = p[k] + d[k]
			step = math.Max(step, math.Abs(d[k]))
		}
		rq := residuals(q)
		if cq := cost(rq); cq < c {
			p, r, c = q, rq, cq
			lambda = math.Max(lambda/10, 1e-9)
			if step < 1e-9 {
				break
			}
		} else {
			lambda *= 10
			if lambda > 1e6 {
				break
			}
		}
	}
	// Keep the angles in (-180, 180].
	for k := 0; k < 3; k++ {
		p[k] = math.Remainder(p[k], 2*math.Pi)
	}
	deg := 180 / math.Pi
	// Signs: GENKI-4K's (see Pose). In the model frame a positive yaw about y
	// (up) moves the nose toward +x (the image's right), a positive pitch
	// about x moves it down, and a positive roll about z (toward the camera)
	// turns the face counter-clockwise in the image.
	return Pose{
		Yaw:      p[0] * deg,
		Pitch:    -p[1] * deg,
		Roll:     -p[2] * deg,
		Residual: math.Sqrt(c/n) / eye,
	}
}

// solve6 solves a 6x6 linear system given as an augmented matrix by
// Gaussian elimination with partial pivoting.
func solve6(a [6][7]float64) ([6]float64, bool) {
	var x [6]float64
	for col := 0; col < 6; col++ {
		piv := col
		for r := col + 1; r < 6; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[piv][col]) {
				piv = r
			}
		}
		if math.Abs(a[piv][col]) < 1e-300 {
			return x, false
		}
		a[col], a[piv] = a[piv], a[col]
		for r := col + 1; r < 6; r++ {
			f := a[r][col] / a[col][col]
			for k := col; k < 7; k++ {
				a[r][k] -= f * a[col][k]
			}
		}
	}
	for r := 5; r >= 0; r-- {
		s := a[r][6]
		for k := r + 1; k < 6; k++ {
			s -= a[r][k] * x[k]
		}
		x[r] = s / a[r][r]
	}
	return x, true
}
