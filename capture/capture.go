// Package capture reads frames from cameras, video files, stream URLs,
// single images and directories of images, with their index and timestamp.
//
// Every Frame's Mat is owned by the receiver, who must Close it.
package capture

import (
	_ "github.com/affectlab/affect/internal/cvenv" // OpenCV defaults, before any OpenCV call

	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// Errors returned by Open and Next. They are wrapped with details; test with errors.Is.
var (
	// ErrNotFound: the file or directory does not exist.
	ErrNotFound = errors.New("input not found")
	// ErrUnsupported: the input's kind or URL scheme is not supported.
	ErrUnsupported = errors.New("unsupported input")
	// ErrNoCamera: no camera answers at the given index.
	ErrNoCamera = errors.New("camera not available")
	// ErrUnreadable: the file exists but cannot be decoded as video or image.
	ErrUnreadable = errors.New("cannot decode input")
	// ErrTruncated: a video ended well before the frame count in its header,
	// or a JPEG ends before its end marker.
	ErrTruncated = errors.New("truncated or damaged file")
	// ErrEmpty: a directory holds no images, or a video holds no frames.
	ErrEmpty = errors.New("no frames in input")
)

// Kind says what a Source reads.
type Kind string

// Source kinds.
const (
	KindCamera Kind = "camera"
	KindFile   Kind = "file"
	KindStream Kind = "stream"
	KindImage  Kind = "image"
	KindDir    Kind = "dir"
)

// Frame is one captured picture.
type Frame struct {
	// Index is the 0-based position of the frame in its source (before sampling).
	Index int64
	// TimeMS is the media timestamp in milliseconds; for cameras and live
	// streams the wall-clock time since capture started.
	TimeMS float64
	// Wall is the wall-clock time at which the frame was read.
	Wall time.Time
	// Name is the file name for image and directory sources, else empty.
	Name string
	// Image is the BGR picture. The receiver owns it and must Close it.
	// It is empty when Err is set.
	Image gocv.Mat
	// Err, when set, says why this item (an unreadable image in a directory)
	// has no picture; the source goes on with the next item.
	Err error
}

// Close releases the frame's picture.
func (f *Frame) Close() error { return f.Image.Close() }

// Info describes an open Source.
type Info struct {
	Name string
	Kind Kind
	// FPS is the nominal frame rate (0 when unknown or for images).
	FPS float64
	// FrameCount is the number of frames in the header (0 when unknown).
	FrameCount int64
	Width      int
	Height     int
	// Skipped are the entries of a directory source that are not read
	// (not images by name, folders, hidden files), with the reason.
	Skipped []SkippedFile
}

// Source yields frames until io.EOF.
type Source interface {
	// Next returns the next (sampled) frame, io.EOF at the end, or an error.
	Next(ctx context.Context) (Frame, error)
	Info() Info
	Close() error
}

// Options control sampling and playback.
type options struct {
	every       int
	fps         float64
	realtime    bool
	maxDirty    int
	reconnect   time.Duration
	readTimeout time.Duration
}

// Option configures Open.
type Option func(*options) error

// Every keeps every n-th frame (n ≥ 1).
func Every(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("capture: every must be ≥ 1, got %d", n)
		}
		o.every = n
		return nil
	}
}

// FPS keeps frames at about f frames per second of media time (f > 0); 0 keeps all.
func FPS(f float64) Option {
	return func(o *options) error {
		if f < 0 {
			return fmt.Errorf("capture: fps must be ≥ 0, got %g", f)
		}
		o.fps = f
		return nil
	}
}

// Realtime makes a video file play at its own frame rate instead of as fast as possible.
func Realtime(on bool) Option {
	return func(o *options) error { o.realtime = on; return nil }
}

// ImageExts are the file extensions read as still images.
var ImageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true, ".webp": true, ".tif": true, ".tiff": true, ".pgm": true, ".ppm": true}

var streamSchemes = map[string]bool{"rtsp": true, "rtsps": true, "rtmp": true, "http": true, "https": true, "udp": true, "tcp": true, "srt": true}

// Open opens spec as a Source:
//   - a number ("0") is a camera index;
//   - rtsp://, rtmp://, http(s)://, udp://, tcp://, srt:// URLs are network streams;
//   - a directory is read as its images in name order;
//   - a file with an image extension is one still image; any other file is a video.
func Open(spec string, opts ...Option) (Source, error) {
	o := options{every: 1, reconnect: DefaultReconnect, readTimeout: DefaultReadTimeout}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if spec == "" {
		return nil, fmt.Errorf("%w: empty input name", ErrNotFound)
	}
	if idx, err := strconv.Atoi(spec); err == nil {
		return openCamera(idx, o)
	}
	if strings.Contains(spec, "://") {
		u, err := url.Parse(spec)
		if err != nil {
			return nil, fmt.Errorf("%w: %q is not a valid URL: %v", ErrUnsupported, spec, err)
		}
		scheme := strings.ToLower(u.Scheme)
		if scheme == "file" {
			spec = u.Path
		} else if streamSchemes[scheme] {
			return openVideo(spec, KindStream, o)
		} else {
			return nil, fmt.Errorf("%w: URL scheme %q in %q (use a file path, a camera index or an rtsp/rtmp/http(s)/udp/tcp/srt URL)", ErrUnsupported, u.Scheme, spec)
		}
	}
	st, err := os.Stat(spec)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s (check the path)", ErrNotFound, spec)
		}
		return nil, fmt.Errorf("capture: %s: %w", spec, err)
	}
	if st.IsDir() {
		return openDir(spec, o)
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("%w: %s is an empty file", ErrUnreadable, spec)
	}
	if ImageExts[strings.ToLower(filepath.Ext(spec))] {
		return openImages(spec, KindImage, []string{spec}, o)
	}
	return openVideo(spec, KindFile, o)
}

// sampler decides which frames to keep.
type sampler struct {
	o      options
	kept   int64
	nextMS float64
}

func (s *sampler) keep(index int64, timeMS float64) bool {
	if s.o.every > 1 && index%int64(s.o.every) != 0 {
		return false
	}
	if s.o.fps > 0 {
		const eps = 0.01 // ms: timestamps like 7399.9999 count as 7400
		if timeMS+eps < s.nextMS {
			return false
		}
		step := 1000 / s.o.fps
		// Next sample time on the grid after timeMS, so rounding never drifts.
		s.nextMS = (math.Floor((timeMS+eps)/step) + 1) * step
	}
	s.kept++
	return true
}

// ReadAll is a convenience for tests and small inputs: it calls fn for every
// frame and closes each frame after fn returns.
func ReadAll(ctx context.Context, src Source, fn func(Frame) error) error {
	for {
		f, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		err = fn(f)
		f.Close()
		if err != nil {
			return err
		}
	}
}
