package study

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// WallClockColumns are the per-frame CSV columns and summary fields that
// record when and how fast a result was made, not what it is.
var (
	WallClockColumns = []string{"capture_unix_ms"}
	WallClockFields  = []string{"elapsed_s", "scored_fps"}
)

// SameResult reports whether two results of one video (per-frame CSV and
// summary JSON, e.g. a worker's and a local `affect score`'s) are equal in
// every cell and field except the wall-clock ones, and says where they
// differ if not.
func SameResult(framesA, framesB, summaryA, summaryB []byte) error {
	ra, err := csv.NewReader(bytes.NewReader(framesA)).ReadAll()
	if err != nil {
		return fmt.Errorf("first frames CSV: %w", err)
	}
	rb, err := csv.NewReader(bytes.NewReader(framesB)).ReadAll()
	if err != nil {
		return fmt.Errorf("second frames CSV: %w", err)
	}
	if len(ra) != len(rb) {
		return fmt.Errorf("frames CSV: %d rows and %d rows", len(ra), len(rb))
	}
	if len(ra) == 0 {
		return fmt.Errorf("frames CSV: empty")
	}
	skip := map[int]bool{}
	for i, h := range ra[0] {
		if slices.Contains(WallClockColumns, h) {
			skip[i] = true
		}
	}
	for i := range ra {
		if len(ra[i]) != len(rb[i]) {
			return fmt.Errorf("frames CSV line %d: %d and %d cells", i+1, len(ra[i]), len(rb[i]))
		}
		for c := range ra[i] {
			if !skip[c] && ra[i][c] != rb[i][c] {
				return fmt.Errorf("frames CSV line %d column %s: %q and %q", i+1, ra[0][c], ra[i][c], rb[i][c])
			}
		}
	}
	var sa, sb map[string]any
	if err := json.Unmarshal(summaryA, &sa); err != nil {
		return fmt.Errorf("first summary: %w", err)
	}
	if err := json.Unmarshal(summaryB, &sb); err != nil {
		return fmt.Errorf("second summary: %w", err)
	}
	for _, f := range WallClockFields {
		delete(sa, f)
		delete(sb, f)
	}
	for k, v := range sa {
		if !reflect.DeepEqual(v, sb[k]) {
			return fmt.Errorf("summary field %s: %v and %v", k, v, sb[k])
		}
	}
	for k := range sb {
		if _, ok := sa[k]; !ok {
			return fmt.Errorf("summary field %s only in the second", k)
		}
	}
	return nil
}
