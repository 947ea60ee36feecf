package aggregate

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrMarkersCSV is wrapped by ReadMarkersCSV's errors.
var ErrMarkersCSV = errors.New("bad markers CSV")

// ReadMarkersCSV reads markers from CSV with the header
// onset_ms,label[,condition] (columns in any order, names case-insensitive;
// other columns are ignored). Empty lines are skipped. Errors name the line.
func ReadMarkersCSV(r io.Reader) ([]Marker, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: the file is empty; expected a header line onset_ms,label,condition", ErrMarkersCSV)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMarkersCSV, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; dup && h != "" {
			return nil, fmt.Errorf("%w: line 1: column %q appears twice", ErrMarkersCSV, h)
		}
		col[h] = i
	}
	onsetCol, ok1 := col["onset_ms"]
	labelCol, ok2 := col["label"]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: line 1: header %q must name the columns onset_ms and label (and optionally condition)", ErrMarkersCSV, strings.Join(header, ","))
	}
	condCol, hasCond := col["condition"]
	var out []Marker
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMarkersCSV, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		get := func(i int) string {
			if i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		onset, err := strconv.ParseFloat(get(onsetCol), 64)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: onset_ms %q is not a number", ErrMarkersCSV, line, get(onsetCol))
		}
		m := Marker{OnsetMS: onset, Label: get(labelCol)}
		if hasCond {
			m.Condition = get(condCol)
		}
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrMarkersCSV, line, err)
		}
		out = append(out, m)
	}
	return out, nil
}
