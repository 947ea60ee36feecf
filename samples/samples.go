// Package samples carries affect's bundled sample media, so that `affect
// session` and `affect score` work on a machine with no camera and no data.
//
// sample.mp4 (640x480, 15 frames/s, 12 s) and face.jpg are made from the demo
// photos of the npm package @vladmandic/face-api@1.7.15 (MIT licence,
// Copyright (c) Vladimir Mandic) by make_sample.go in this folder.
package samples

import (
	"bytes"
	_ "embed"
	"fmt"
	"github.com/affectlab/affect/internal/atomicfile"
	"os"
	"path/filepath"
)

//go:embed sample.mp4
var sampleMP4 []byte

// VideoName is the file name of the bundled sample video.
const VideoName = "sample.mp4"

// VideoPath returns a path to the bundled sample video: $AFFECT_SAMPLE when
// set, else a copy written once into the user's cache directory (OpenCV
// reads files, not memory).
func VideoPath() (string, error) {
	if p := os.Getenv("AFFECT_SAMPLE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("samples: AFFECT_SAMPLE=%s: %w", p, err)
		}
		return p, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "affect")
	p := filepath.Join(dir, VideoName)
	if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, sampleMP4) {
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("samples: %w", err)
	}
	if err := atomicfile.WriteBytes(p, sampleMP4); err != nil {
		return "", fmt.Errorf("samples: %w", err)
	}
	return p, nil
}
