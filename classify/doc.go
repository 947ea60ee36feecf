// Package classify finds faces in a frame and scores each for happiness.
//
// It is the per-frame core of affect, shared by offline scoring, live
// sessions and evaluation:
//
//   - Detection (detect.go): Detector finds frontal faces with an OpenCV
//     cascade (Haar by default, LBP faster), found by FindCascade and loaded
//     by LoadCascade; Neighbors gives a face's detector score at a common
//     scale. FaceTracker (track.go) searches the whole frame every few
//     keyframes and follows known faces in between, and Select picks the
//     participant's face.
//   - Alignment (align.go): Aligner finds the eyes in a face crop and levels
//     them before classification.
//   - Models (model.go, preprocess.go, backend.go, opencvdnn.go, onnxgo.go):
//     the two ONNX expression networks of package models ("human", a
//     mini-Xception on FER2013, and "faceapi"), preprocessed as each was
//     trained and run by OpenCV DNN (fast) or onnx-go (pure Go). Every
//     probability vector is in record.Labels order.
//   - The happiness rule (calibrate.go): ModelHappiness is the one place
//     where a selectable model's happiness is derived from the networks'
//     probabilities: "combined" (the default) is the learned logistic
//     combination of both networks, "human", "faceapi" and "ensemble" are
//     Platt-calibrated (RawHappiness is their uncalibrated value). The
//     Scorer, the evaluation and `affect fit-combination` all use it.
//   - Scorer (scorer.go) puts these together for one frame: faces, their
//     class probabilities, happiness and quality measures (face size,
//     sharpness, detector score, symmetry) with the quality rule QualityLow.
//     group.go merges raw cascade hits into faces as OpenCV does, keeping
//     each face's hit count (the detector score).
//
// Detectors, aligners, models and Scorers hold OpenCV objects: they are not
// safe for concurrent use (make one per goroutine) and must be closed.
package classify
