//go:build matprofile

package testenv

import (
	"bytes"
	"testing"

	"gocv.io/x/gocv"
)

// CheckMats records the number of open gocv Mats and returns a function that
// fails the test if more are open when it is called: defer CheckMats(t)().
// It fails at once when gocv.MatProfile does not count (the matprofile
// build tag is missing).
func CheckMats(t testing.TB) func() {
	t.Helper()
	before := gocv.MatProfile.Count()
	probe := gocv.NewMat()
	if gocv.MatProfile.Count() != before+1 {
		t.Fatal("gocv.MatProfile does not count Mats: run with -tags matprofile")
	}
	probe.Close()
	return func() {
		t.Helper()
		if n := gocv.MatProfile.Count() - before; n != 0 {
			var b bytes.Buffer
			gocv.MatProfile.WriteTo(&b, 1)
			t.Fatalf("%d Mats leaked:\n%s", n, b.String())
		}
	}
}
