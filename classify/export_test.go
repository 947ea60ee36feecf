package classify

// LandmarkerInfer runs the landmark network on a preprocessed input and
// returns its raw 136 outputs (for the conversion test).
func LandmarkerInfer(l *Landmarker, x []float32) ([]float32, error) {
	if l.backend == nil {
		return nil, ErrClosed
	}
	return l.backend.Infer(x)
}
