package evaluate

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/affectlab/affect/capture"
)

// ErrDataset is wrapped by errors about a manifest or an image folder.
var ErrDataset = errors.New("bad evaluation data")

// PositiveClass is the folder name of the positive class in a folder data set.
const PositiveClass = "happy"

// Item is one labelled image.
type Item struct {
	Path  string
	Happy bool
	// Class is the folder name (folder data sets) or "happy"/"not_happy".
	Class string
	// Pose is the labelled head pose (yaw, pitch, roll in degrees, converted
	// from the manifest's radians) when the manifest has yaw, pitch and roll
	// columns (GENKI-4K's labels); nil otherwise.
	Pose *[3]float64
}

// ReadManifest reads a CSV with columns path,happy (happy 0 or 1); paths are
// relative to the manifest's folder unless absolute. Optional columns yaw,
// pitch and roll (all three, in radians, as GENKI-4K's labels) give Item.Pose.
func ReadManifest(path string) ([]Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDataset, err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: cannot read the header: %v", ErrDataset, path, err)
	}
	pi, hi := -1, -1
	angle := [3]int{-1, -1, -1}
	for i, h := range head {
		switch strings.TrimSpace(strings.ToLower(h)) {
		case "path":
			pi = i
		case "happy":
			hi = i
		case "yaw":
			angle[0] = i
		case "pitch":
			angle[1] = i
		case "roll":
			angle[2] = i
		}
	}
	hasPose := angle[0] >= 0 && angle[1] >= 0 && angle[2] >= 0
	if pi < 0 || hi < 0 {
		return nil, fmt.Errorf("%w: %s: the header must name the columns path and happy, got %v", ErrDataset, path, head)
	}
	dir := filepath.Dir(path)
	var items []Item
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrDataset, path, err)
		}
		if len(rec) <= max(pi, hi) {
			return nil, fmt.Errorf("%w: %s line %d: too few columns", ErrDataset, path, line)
		}
		p := strings.TrimSpace(rec[pi])
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		var happy bool
		switch strings.TrimSpace(rec[hi]) {
		case "1":
			happy = true
		case "0":
		default:
			return nil, fmt.Errorf("%w: %s line %d: happy must be 0 or 1, got %q", ErrDataset, path, line, rec[hi])
		}
		cls := "not_happy"
		if happy {
			cls = PositiveClass
		}
		it := Item{Path: p, Happy: happy, Class: cls}
		if hasPose {
			var pose [3]float64
			for k, c := range angle {
				if c >= len(rec) {
					return nil, fmt.Errorf("%w: %s line %d: too few columns", ErrDataset, path, line)
				}
				v, err := strconv.ParseFloat(strings.TrimSpace(rec[c]), 64)
				if err != nil || math.IsNaN(v) || math.Abs(v) > 2*math.Pi {
					return nil, fmt.Errorf("%w: %s line %d: %s %q is not an angle in radians", ErrDataset, path, line, head[c], rec[c])
				}
				pose[k] = v * 180 / math.Pi
			}
			it.Pose = &pose
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: %s lists no images", ErrDataset, path)
	}
	return items, nil
}

// ReadDir reads a folder with one subfolder of images (or videos, see
// VideoExts) per class; the subfolder named "happy" is the positive class.
func ReadDir(dir string) ([]Item, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDataset, err)
	}
	var items []Item
	hasPos := false
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDataset, err)
		}
		for _, f := range files {
			if f.IsDir() || !(capture.ImageExts[strings.ToLower(filepath.Ext(f.Name()))] || IsVideo(f.Name())) {
				continue
			}
			items = append(items, Item{Path: filepath.Join(dir, e.Name(), f.Name()), Happy: e.Name() == PositiveClass, Class: e.Name()})
			hasPos = hasPos || e.Name() == PositiveClass
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: %s has no class subfolders with images", ErrDataset, dir)
	}
	if !hasPos {
		return nil, fmt.Errorf("%w: %s has no %q subfolder with images (the positive class)", ErrDataset, dir, PositiveClass)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Path < items[j].Path })
	return items, nil
}
