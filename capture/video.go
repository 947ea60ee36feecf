package capture

import (
	"context"
	"fmt"
	"io"
	"time"

	"gocv.io/x/gocv"
)

// videoSource reads a video file (cameras and streams: liveSource).
type videoSource struct {
	vc      *gocv.VideoCapture
	info    info
	samp    sampler
	index   int64 // index of the next frame to read
	lastMS  float64
	playAt  time.Time
	realFPS float64
}

type info = Info

func openVideo(name string, kind Kind, o options) (Source, error) {
	vc, err := gocv.OpenVideoCapture(name)
	if err != nil || vc == nil || !vc.IsOpened() {
		if vc != nil {
			vc.Close()
		}
		if kind == KindStream {
			return nil, fmt.Errorf("%w: cannot open stream %s (is it reachable, and is the URL right?)", ErrUnreadable, name)
		}
		return nil, fmt.Errorf("%w: %s is not a video OpenCV can read (corrupt, truncated or not a video file)", ErrUnreadable, name)
	}
	s := &videoSource{vc: vc, samp: sampler{o: o}}
	s.info = Info{
		Name:       name,
		Kind:       kind,
		FPS:        vc.Get(gocv.VideoCaptureFPS),
		FrameCount: int64(vc.Get(gocv.VideoCaptureFrameCount)),
		Width:      int(vc.Get(gocv.VideoCaptureFrameWidth)),
		Height:     int(vc.Get(gocv.VideoCaptureFrameHeight)),
	}
	if s.info.FPS <= 0 || s.info.FPS > 1000 {
		s.info.FPS = 0
	}
	if s.info.FrameCount < 0 {
		s.info.FrameCount = 0
	}
	if kind == KindStream {
		return newLiveSource(vc, s.info, o, func() (*gocv.VideoCapture, error) { return openCapture(name) }), nil
	}
	if o.realtime && s.info.FPS > 0 {
		s.realFPS = s.info.FPS
	}
	return s, nil
}

// openCapture opens a stream or camera again after a loss.
func openCapture(v any) (*gocv.VideoCapture, error) {
	vc, err := gocv.OpenVideoCapture(v)
	if err != nil || vc == nil || !vc.IsOpened() {
		if vc != nil {
			vc.Close()
		}
		if err == nil {
			err = fmt.Errorf("cannot open %v", v)
		}
		return nil, err
	}
	return vc, nil
}

func openCamera(index int, o options) (Source, error) {
	if index < 0 {
		return nil, fmt.Errorf("%w: camera index must be ≥ 0, got %d", ErrUnsupported, index)
	}
	vc, err := gocv.OpenVideoCapture(index)
	if err != nil || vc == nil || !vc.IsOpened() {
		if vc != nil {
			vc.Close()
		}
		return nil, fmt.Errorf("%w: no camera at index %d (is a webcam connected and free? see /dev/video*; or give a video file)", ErrNoCamera, index)
	}
	info := Info{
		Name:   fmt.Sprintf("camera:%d", index),
		Kind:   KindCamera,
		FPS:    vc.Get(gocv.VideoCaptureFPS),
		Width:  int(vc.Get(gocv.VideoCaptureFrameWidth)),
		Height: int(vc.Get(gocv.VideoCaptureFrameHeight)),
	}
	if info.FPS <= 0 || info.FPS > 1000 {
		info.FPS = 0
	}
	return newLiveSource(vc, info, o, func() (*gocv.VideoCapture, error) { return openCapture(index) }), nil
}

func (s *videoSource) Info() Info { return s.info }

func (s *videoSource) Close() error { return s.vc.Close() }

// maxEmptyReads is how many empty reads in a row a camera or stream may give
// before the source counts as lost.
const maxEmptyReads = 50

func (s *videoSource) Next(ctx context.Context) (Frame, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Frame{}, err
		}
		idx := s.index
		// Frames that sampling drops are grabbed without decoding into a Mat we keep.
		if s.samp.o.every > 1 && s.samp.o.fps == 0 && idx%int64(s.samp.o.every) != 0 {
			s.vc.Grab(1)
			s.index++
			if s.info.FrameCount > 0 && s.index > s.info.FrameCount+1 {
				return Frame{}, io.EOF
			}
			continue
		}
		m := gocv.NewMat()
		ok := s.vc.Read(&m)
		wall := time.Now()
		if !ok || m.Empty() {
			m.Close()
			if s.index == 0 {
				return Frame{}, fmt.Errorf("%w: %s has no decodable frames", ErrEmpty, s.info.Name)
			}
			// Frame counts in headers are estimates; a shortfall of more than
			// 5% (and more than 2 frames) means the file is damaged.
			if fc := s.info.FrameCount; fc > 0 && s.index < fc-2 && float64(s.index) < 0.95*float64(fc) {
				return Frame{}, fmt.Errorf("%w: video %s ended early: it gave %d of the %d frames in its header", ErrTruncated, s.info.Name, s.index, fc)
			}
			return Frame{}, io.EOF
		}
		s.index++
		tms := s.vc.Get(gocv.VideoCapturePosMsec)
		if s.info.FPS > 0 && (tms <= 0 && idx > 0 || tms < s.lastMS) {
			tms = float64(idx) * 1000 / s.info.FPS
		}
		s.lastMS = tms
		if !s.samp.keep(idx, tms) {
			m.Close()
			continue
		}
		if s.realFPS > 0 {
			if s.playAt.IsZero() {
				s.playAt = wall.Add(-time.Duration(tms * float64(time.Millisecond)))
			}
			due := s.playAt.Add(time.Duration(tms * float64(time.Millisecond)))
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					m.Close()
					return Frame{}, ctx.Err()
				case <-t.C:
				}
				wall = time.Now()
			}
		}
		return Frame{Index: idx, TimeMS: tms, Wall: wall, Image: m}, nil
	}
}
