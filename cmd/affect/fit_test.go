package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// fit-combination and eval --protocol refuse bad flags with status 2, and a
// missing development set with status 1, before any network runs.
func TestProtocolCommandErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.csv")
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"protocol with a manifest", []string{"eval", "--protocol", "--manifest", missing}, 2, "give no DIR or --manifest"},
		{"protocol with two backends", []string{"eval", "--protocol", "--backend", "opencv,onnxgo"}, 2, "one backend"},
		{"fit with an argument", []string{"fit-combination", "extra"}, 2, "takes no arguments"},
		{"both alignments", []string{"fit-combination", "--fer-only", "--align", "--align-eyes"}, 2, "alternatives"},
		{"missing development set", []string{"fit-combination", "--fer", missing, "--out", "", "--quiet", "--cache-dir", ""}, 1, "fer2013"},
		{"missing development set, eval", []string{"eval", "--protocol", "--fer", missing, "--quiet", "--cache-dir", ""}, 1, "bad evaluation data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := affect(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.inStderr) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tc.code, stderr, tc.inStderr)
			}
		})
	}
}
