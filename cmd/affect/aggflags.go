package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/affectlab/affect/pipeline/aggregate"
)

// registerAggregateFlags registers the aggregation flags shared by score,
// session and aggregate on fs, writing into cfg. The returned function
// completes cfg after parsing and validates it.
func registerAggregateFlags(fs *flag.FlagSet, cfg *aggregate.Config) func() error {
	fs.DurationVar(&cfg.Window, "window", cfg.Window, "rolling window")
	fs.DurationVar(&cfg.Baseline, "baseline", cfg.Baseline, "epoch baseline before each marker")
	fs.DurationVar(&cfg.ResponseFrom, "response-from", cfg.ResponseFrom, "epoch response window start after onset")
	fs.DurationVar(&cfg.ResponseTo, "response-to", cfg.ResponseTo, "epoch response window end after onset")
	calib := fs.Duration("calibration", 0, "first part of the session that is the participant's neutral baseline: the summary reports the rest raw and baseline-corrected (0: none)")
	fs.BoolVar(&cfg.ExcludeLowQuality, "exclude-low", false, "leave faces that fail the quality rule (low_quality=1) out of the summary statistics; the per-frame file keeps them")
	return func() error {
		cfg.CalibrationMS = float64(*calib) / float64(time.Millisecond)
		if err := cfg.Validate(); err != nil {
			return usageError("%v", err)
		}
		return nil
	}
}

// readMarkers reads the --markers CSV at path ("" gives none).
func readMarkers(path string) ([]aggregate.Marker, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading markers: %w", err)
	}
	defer f.Close()
	marks, err := aggregate.ReadMarkersCSV(f)
	if err != nil {
		return nil, fmt.Errorf("reading markers %s: %w", path, err)
	}
	return marks, nil
}
