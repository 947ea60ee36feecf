package evaluate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/affectlab/affect/classify"
)

// The development sets of the protocol (see Protocol).
const (
	SetFER   = "fer2013"
	SetGENKI = "genki4k"
	SetCREMA = "crema_d"
)

// DevSetNames are the development sets, in report order.
var DevSetNames = []string{SetFER, SetGENKI, SetCREMA}

// DevConfig says where the development sets are and how their network
// outputs are computed and cached.
type DevConfig struct {
	// FER is the FER2013 test folder (one subfolder per class; face crops;
	// PublicTest_ files are the fit part, PrivateTest_ the held-out part).
	FER string
	// GENKI is the GENKI-4K manifest (whole photos; faces found by the
	// detector; a seeded half of the photos is the fit part).
	GENKI string
	// CREMA is the CREMA-D manifest of labelled videos (every frame has its
	// clip's label; the first half of every clip's frames is the fit part).
	CREMA string
	// CacheDir holds one file of network outputs per set ("" : none).
	CacheDir string
	Backend  string
	Detector classify.DetectorParams
	// Margins are the crop margins computed for detected faces.
	Margins []float64
	// Seed chooses GENKI-4K's split. Default 1.
	Seed    uint64
	Workers int
	// Landmarks computes (or reads from the cache) every face's smile
	// geometry from the 68-point landmarks (FaceSample.Geo).
	Landmarks bool
	// Progress, when set, reports extraction progress per set.
	Progress func(set string, done, total int)
}

// DefaultMargins are the crop margins the protocol computes: 0.1 is the
// default crop of both networks (models.Spec.Margin).
var DefaultMargins = []float64{0, 0.1, 0.2}

// DevSet is one development set's faces, each marked fit or held out.
type DevSet struct {
	Name    string
	Samples []FaceSample
	// Fit[i] says Samples[i] is in the fit part; the others are held out,
	// never used to fit or to choose.
	Fit []bool
	// FromCache says the outputs were read from the cache.
	FromCache bool
}

// LoadDevSets reads the three development sets, computes (or reads from the
// cache) both networks' outputs on every face and splits each set.
func LoadDevSets(ctx context.Context, c DevConfig) ([]DevSet, error) {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if len(c.Margins) == 0 {
		c.Margins = DefaultMargins
	}
	if c.Backend == "" {
		c.Backend = classify.BackendOpenCV
	}
	// Read every set's list first, so that a missing set fails before
	// any network runs.
	lists := make([][]Item, len(DevSetNames))
	for k, name := range DevSetNames {
		var err error
		switch name {
		case SetFER:
			lists[k], err = ReadDir(c.FER)
		case SetGENKI:
			lists[k], err = ReadManifest(c.GENKI)
		case SetCREMA:
			lists[k], err = ReadManifest(c.CREMA)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	var out []DevSet
	for k, name := range DevSetNames {
		items, crops := lists[k], name == SetFER
		opt := ExtractOptions{Backend: c.Backend, Detector: c.Detector, Crops: crops, Margins: c.Margins, Workers: c.Workers}
		if c.Progress != nil {
			total := len(items)
			opt.Progress = func(n int) { c.Progress(name, n, total) }
		}
		s, cached, err := CachedSamples(ctx, c.CacheDir, name, items, opt)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if c.Landmarks {
			var progress func(int)
			if c.Progress != nil {
				progress = func(n int) { c.Progress(name+" landmarks", n, len(items)) }
			}
			if _, err := CachedGeometry(ctx, c.CacheDir, name, s, c.Backend, c.Workers, progress); err != nil {
				return nil, fmt.Errorf("%s: landmarks: %w", name, err)
			}
		}
		ds := DevSet{Name: name, Samples: s, FromCache: cached}
		ds.Fit, err = SplitFit(name, s, c.Seed)
		if err != nil {
			return nil, err
		}
		out = append(out, ds)
	}
	return out, nil
}

// SplitFit marks each sample of a development set as fit (true) or held out:
//   - fer2013: file names with PublicTest_ are fit, PrivateTest_ held out;
//   - genki4k: a seeded random half of the photos (by path) is fit;
//   - crema_d: the first half of every clip's frames is fit, the second half
//     held out. (A split by whole clips is impossible: one clip is happy.)
func SplitFit(set string, s []FaceSample, seed uint64) ([]bool, error) {
	fit := make([]bool, len(s))
	switch set {
	case SetFER:
		for i := range s {
			b := baseName(s[i].Path)
			switch {
			case strings.HasPrefix(b, "PublicTest_"):
				fit[i] = true
			case strings.HasPrefix(b, "PrivateTest_"):
			default:
				return nil, fmt.Errorf("%w: FER2013 file %s is neither PublicTest_ nor PrivateTest_", ErrDataset, s[i].Path)
			}
		}
	case SetGENKI:
		// Photos in a seeded random order; the first half is fit.
		perm := rand.New(rand.NewPCG(seed, 0x6e4b1)).Perm(len(s))
		for rank, i := range perm {
			fit[i] = rank < len(s)/2
		}
	case SetCREMA:
		frames := map[string]int64{}
		for _, x := range s {
			if x.Frame >= 0 {
				frames[x.Path] = max(frames[x.Path], x.Frame+1)
			}
		}
		for i, x := range s {
			fit[i] = x.Frame >= 0 && x.Frame < frames[x.Path]/2
		}
	default:
		return nil, fmt.Errorf("evaluate: unknown development set %q", set)
	}
	return fit, nil
}
