package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/affectlab/affect/capture"
	"github.com/affectlab/affect/record"
	"github.com/affectlab/affect/score"
)

func init() {
	register(command{
		name:    "bench",
		summary: "measure the offline scoring speed on a video: frames/s and time per stage",
		run:     runBench,
	})
}

// BenchResult is the last line of `affect bench` as JSON.
type BenchResult struct {
	Video      string  `json:"video"`
	Model      string  `json:"model"`
	Backend    string  `json:"backend"`
	Workers    int     `json:"workers"`
	CPUs       int     `json:"cpus"`
	Frames     int64   `json:"frames"`
	FaceFrames int64   `json:"face_frames"`
	Seconds    float64 `json:"seconds"`
	FPS        float64 `json:"fps"`
	// Per-frame mean time of each stage in ms (summed over workers: with
	// several workers the stages overlap, so they add up to more than 1/FPS).
	DecodeMS   float64 `json:"decode_ms_per_frame"`
	DetectMS   float64 `json:"detect_ms_per_frame"`
	ClassifyMS float64 `json:"classify_ms_per_face"`
	// LandmarksMS is the time per face spent on the 68 landmarks, by the
	// face tracker (part of DetectMS) or the scorers (part of ClassifyMS).
	LandmarksMS float64 `json:"landmarks_ms_per_face"`
	// LandmarkModel names the landmark model.
	LandmarkModel string `json:"landmark_model"`
	// Followed is how many faces were followed by their landmarks between
	// keyframes, Lost how many of those tries lost the face (the detector
	// searched the frame again).
	Followed   int     `json:"followed_faces"`
	Lost       int     `json:"lost_faces"`
	PeakHeapMB float64 `json:"heap_mb"`
	// CPUMS is the process's CPU time (user + system, all threads) per
	// frame: what a frame costs, whatever else the machine is doing.
	CPUMS float64 `json:"cpu_ms_per_frame"`
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", stderr, "VIDEO [flags]")
	var sf scoringFlags
	sf.register(fs)
	cpuprofile := fs.String("cpuprofile", "", "write a Go CPU profile to FILE")
	limit := fs.Int64("frames", 0, "stop after N frames (0: the whole video)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("give exactly one VIDEO")
	}
	if err := sf.validate(); err != nil {
		return err
	}
	src, err := capture.Open(pos[0], sf.captureOptions()...)
	if err != nil {
		return err
	}
	defer src.Close()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	workers := sf.workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	if *limit < 0 {
		return usageError("--frames %d must be ≥ 0", *limit)
	}
	var faces int64
	var ms runtime.MemStats
	cpu0 := processCPU()
	stats, err := score.Run(ctx, src, score.Config{Source: pos[0], Scorer: sf.scorerParams(), Workers: workers},
		func(f record.FrameScore) error {
			if f.FaceFound {
				faces++
			}
			if *limit > 0 && f.Frame+1 >= *limit {
				return errEnough
			}
			return nil
		})
	if err != nil && !errors.Is(err, errEnough) {
		return err
	}
	cpu := processCPU() - cpu0
	runtime.ReadMemStats(&ms)
	n := float64(max(stats.Frames, 1))
	perFace := float64(max(stats.Timing.Faces, 1))
	r := BenchResult{
		Video: pos[0], Model: sf.model, Backend: sf.backend, Workers: workers, CPUs: runtime.NumCPU(),
		Frames: stats.Frames, FaceFrames: faces, Seconds: stats.Elapsed.Seconds(), FPS: stats.FPS(),
		DecodeMS:      ms1(stats.Decode) / n,
		DetectMS:      ms1(stats.Timing.Detect) / n,
		ClassifyMS:    ms1(stats.Timing.Classify) / perFace,
		LandmarksMS:   ms1(stats.Timing.Landmarks+stats.Track.Landmarks) / float64(max(stats.Timing.Faces, stats.Track.Faces, 1)),
		LandmarkModel: sf.landmarkModel,
		Followed:      stats.Track.Followed,
		Lost:          stats.Track.Lost,
		PeakHeapMB:    float64(ms.HeapSys) / (1 << 20),
		CPUMS:         ms1(cpu) / n,
	}
	fmt.Fprintf(stdout, "%s: %d frames (%d with a face) in %.2f s = %.1f frames/s  [model %s, backend %s, %d workers on %d CPUs]\n",
		r.Video, r.Frames, r.FaceFrames, r.Seconds, r.FPS, r.Model, r.Backend, r.Workers, r.CPUs)
	fmt.Fprintf(stdout, "per frame: decode %.2f ms, find and follow faces %.2f ms; per face: classify %.2f ms, landmarks (%s) %.2f ms; faces followed by landmarks %d (lost %d); CPU %.2f ms per frame; heap %.0f MB\n",
		r.DecodeMS, r.DetectMS, r.ClassifyMS, r.LandmarkModel, r.LandmarksMS, r.Followed, r.Lost, r.CPUMS, r.PeakHeapMB)
	line, _ := json.Marshal(r)
	fmt.Fprintln(stdout, string(line))
	return nil
}

var errEnough = errors.New("enough frames")

// processCPU is the CPU time the process has used (user + system, all
// threads, OpenCV's and FFmpeg's included).
func processCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

func ms1(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
