package evaluate

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/affectlab/affect/record"
)

func TestReadManifestPose(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.csv")
	if err := os.WriteFile(p, []byte("path,happy,yaw,pitch,roll\na.jpg,1,0.5,-0.25,0\nb.jpg,0,0,0,3.14159265\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	items, err := ReadManifest(p)
	if err != nil {
		t.Fatal(err)
	}
	if items[0].Pose == nil || math.Abs(items[0].Pose[0]-28.6479) > 1e-3 || math.Abs(items[0].Pose[1]+14.3239) > 1e-3 || math.Abs(items[1].Pose[2]-180) > 1e-3 {
		t.Errorf("poses %v %v, want degrees", items[0].Pose, items[1].Pose)
	}
	if err := os.WriteFile(p, []byte("path,happy,yaw,pitch,roll\na.jpg,1,x,0,0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadManifest(p); !errors.Is(err, ErrDataset) {
		t.Errorf("bad angle: got %v", err)
	}
	if err := os.WriteFile(p, []byte("path,happy,yaw\na.jpg,1,0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	items, err = ReadManifest(p)
	if err != nil || items[0].Pose != nil {
		t.Errorf("only a yaw column: pose %v, err %v; want no pose", items[0].Pose, err)
	}
}

func TestComparePose(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	mk := func(est, lab [3]float64) Score {
		l := lab
		return Score{Item: Item{Pose: &l}, Quality: &record.Quality{Yaw: f(est[0]), Pitch: f(est[1]), Roll: f(est[2])}}
	}
	scores := []Score{
		mk([3]float64{0, 10, 1}, [3]float64{0, 0, 0}),
		mk([3]float64{20, 20, 2}, [3]float64{10, 10, 1}),
		mk([3]float64{40, 30, 3}, [3]float64{20, 20, 2}),
		{Item: Item{Pose: &[3]float64{5, 5, 5}}, NoFace: true, Quality: &record.Quality{Yaw: f(99), Pitch: f(99), Roll: f(99)}},
		{Item: Item{Pose: &[3]float64{5, 5, 5}}},
	}
	p := ComparePose(scores)
	if p == nil {
		t.Fatal("no comparison")
	}
	// yaw = 2 x label: r 1, slope 2, |err| 0, 10, 20; pitch = label + 10.
	want := PoseAgreement{
		Yaw:   AngleAgreement{N: 3, Pearson: 1, MAE: 10, Bias: 10, Slope: 2},
		Pitch: AngleAgreement{N: 3, Pearson: 1, MAE: 10, Bias: 10, Slope: 1},
		Roll:  AngleAgreement{N: 3, Pearson: 1, MAE: 1, Bias: 1, Slope: 1},
	}
	if *p != want {
		t.Errorf("got %+v\nwant %+v", *p, want)
	}
	if ComparePose(scores[3:]) != nil {
		t.Error("no face with a pose: want nil")
	}
}

func TestHalf(t *testing.T) {
	items := []Item{{Path: "1"}, {Path: "2"}, {Path: "3"}, {Path: "4"}, {Path: "5"}}
	odd, _ := Half(items, "odd")
	even, _ := Half(items, "even")
	all, _ := Half(items, "")
	if len(odd) != 3 || odd[2].Path != "5" || len(even) != 2 || even[0].Path != "2" || len(all) != 5 {
		t.Errorf("odd %v even %v all %d", odd, even, len(all))
	}
	if _, err := Half(items, "first"); !errors.Is(err, ErrDataset) {
		t.Errorf("bad half: %v", err)
	}
}
