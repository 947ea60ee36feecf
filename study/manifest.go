package study

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/affectlab/affect/pipeline/aggregate"
)

// ErrManifest is wrapped by every manifest error.
var ErrManifest = errors.New("bad study manifest")

// Manifest columns. The first four are required, the others optional.
const (
	ColParticipant = "participant"
	ColSession     = "session"
	ColCondition   = "condition"
	ColSource      = "source"
	ColMarkers     = "markers"
	ColGroup       = "group"
	ColCalibration = "calibration"
)

var (
	requiredCols = []string{ColParticipant, ColSession, ColCondition, ColSource}
	optionalCols = []string{ColMarkers, ColGroup, ColCalibration}
)

// Row is one manifest row: one video of one participant in one session and
// condition.
type Row struct {
	// Line is the row's line number in the manifest (1: the header).
	Line        int
	Participant string
	Session     string
	Condition   string
	Group       string
	// Source is the video: an absolute path (relative paths in the manifest
	// are resolved against the manifest's folder) or a stream URL.
	Source string
	// MarkersFile is the marker CSV the row named (resolved like Source);
	// Markers are its markers, read and validated at load.
	MarkersFile string
	Markers     []aggregate.Marker
	// Calibration is the neutral segment at the start of the video (0: none).
	Calibration time.Duration
}

// ReadManifestFile reads and validates the manifest at path.
func ReadManifestFile(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrManifest, err)
	}
	defer f.Close()
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrManifest, err)
	}
	rows, err := ReadManifest(f, dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// ReadManifest reads a manifest CSV: a header with at least participant,
// session, condition and source (any order; markers, group and calibration
// optional; other columns are an error, so a typo is not ignored), then one
// row per video. Relative source and marker paths are resolved against dir.
// Every row is checked before anything is returned: IDs are non-empty
// letters, digits, '-', '_' and '.'; each participant × session × condition
// appears once; local sources and marker files exist and the markers parse;
// calibration is a duration like 20s. All errors come back at once, each with
// its line number.
func ReadManifest(r io.Reader, dir string) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: the manifest is empty; the first line must be the header %s", ErrManifest, strings.Join(requiredCols, ","))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: line 1: %w", ErrManifest, err)
	}
	col := map[string]int{}
	var errs []error
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		known := false
		for _, c := range append(requiredCols[:len(requiredCols):len(requiredCols)], optionalCols...) {
			known = known || c == h
		}
		if !known {
			errs = append(errs, fmt.Errorf("line 1: unknown column %q (columns: %s; optional %s)", h, strings.Join(requiredCols, ","), strings.Join(optionalCols, ",")))
			continue
		}
		if _, dup := col[h]; dup {
			errs = append(errs, fmt.Errorf("line 1: column %q appears twice", h))
		}
		col[h] = i
	}
	for _, c := range requiredCols {
		if _, ok := col[c]; !ok {
			errs = append(errs, fmt.Errorf("line 1: missing column %q (the header needs %s)", c, strings.Join(requiredCols, ",")))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrManifest, errors.Join(errs...))
	}
	get := func(rec []string, c string) string {
		i, ok := col[c]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	var rows []Row
	seen := map[string]int{}
	type groupAt struct {
		group string
		line  int
	}
	groups := map[string]groupAt{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			continue
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		row := Row{Line: line, Participant: get(rec, ColParticipant), Session: get(rec, ColSession),
			Condition: get(rec, ColCondition), Group: get(rec, ColGroup), Source: get(rec, ColSource)}
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, a...)))
		}
		if len(rec) > len(header) {
			bad("%d cells, the header has %d", len(rec), len(header))
		}
		for _, f := range []struct{ name, v string }{{ColParticipant, row.Participant}, {ColSession, row.Session}, {ColCondition, row.Condition}} {
			if err := validID(f.v); err != nil {
				bad("%s: %v", f.name, err)
			}
		}
		if row.Group != "" {
			if err := validID(row.Group); err != nil {
				bad("group: %v", err)
			}
		}
		if row.Source == "" {
			bad("source is empty (a video path the workers can read, or a stream URL)")
		} else if !isURL(row.Source) {
			row.Source = resolve(dir, row.Source)
			if st, err := os.Stat(row.Source); err != nil {
				bad("source: %v", err)
			} else if st.IsDir() {
				bad("source %s is a folder; a study job scores one video", row.Source)
			}
		}
		if m := get(rec, ColMarkers); m != "" {
			row.MarkersFile = resolve(dir, m)
			marks, err := readMarkers(row.MarkersFile)
			if err != nil {
				bad("markers: %v", err)
			}
			row.Markers = marks
		}
		if c := get(rec, ColCalibration); c != "" {
			d, err := time.ParseDuration(c)
			if err != nil || d < 0 {
				bad("calibration %q is not a duration like 20s", c)
			}
			row.Calibration = d
		}
		if g, ok := groups[row.Participant]; ok && g.group != row.Group {
			bad("participant %s is in group %q here and in group %q on line %d (a participant has one group)", row.Participant, row.Group, g.group, g.line)
		} else if !ok {
			groups[row.Participant] = groupAt{row.Group, line}
		}
		key := row.Participant + "\x00" + row.Session + "\x00" + row.Condition
		if prev, dup := seen[key]; dup {
			bad("participant %s, session %s, condition %s is already on line %d (one video per participant, session and condition)", row.Participant, row.Session, row.Condition, prev)
		} else {
			seen[key] = line
		}
		rows = append(rows, row)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w (%d errors):\n%w", ErrManifest, len(errs), errors.Join(errs...))
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: no rows after the header", ErrManifest)
	}
	return rows, nil
}

func readMarkers(path string) ([]aggregate.Marker, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return aggregate.ReadMarkersCSV(f)
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

func isURL(s string) bool { return strings.Contains(s, "://") }

// MaxIDLen is the longest participant, session, condition or group ID.
const MaxIDLen = 64

// validID checks a participant, session, condition or group ID.
func validID(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > MaxIDLen {
		return fmt.Errorf("%q is longer than %d characters", s, MaxIDLen)
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return fmt.Errorf("%q contains %q; use letters, digits, '-', '_' and '.'", s, r)
		}
	}
	return nil
}

// Pseudonymiser replaces participant IDs by a keyed hash, so that names
// never travel: HMAC-SHA256 of the ID under a secret key, the first 16 hex
// digits, prefixed "p-". The same key gives the same pseudonym on every
// submit (resubmitting stays idempotent); without the key the ID cannot be
// recovered or checked by guessing.
type Pseudonymiser struct{ key []byte }

// MinKeyLen is the shortest pseudonymisation key accepted.
const MinKeyLen = 16

// NewPseudonymiser returns a Pseudonymiser for key (at least MinKeyLen bytes).
func NewPseudonymiser(key []byte) (*Pseudonymiser, error) {
	k := []byte(strings.TrimSpace(string(key)))
	if len(k) < MinKeyLen {
		return nil, fmt.Errorf("the pseudonymisation key has %d bytes; use at least %d random bytes (e.g. 'head -c 32 /dev/urandom | base64 > study.key')", len(k), MinKeyLen)
	}
	return &Pseudonymiser{key: k}, nil
}

// ID returns participant's pseudonym.
func (p *Pseudonymiser) ID(participant string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(participant))
	return "p-" + hex.EncodeToString(m.Sum(nil))[:16]
}

// Apply replaces every row's participant by its pseudonym.
func (p *Pseudonymiser) Apply(rows []Row) {
	for i := range rows {
		rows[i].Participant = p.ID(rows[i].Participant)
	}
}
