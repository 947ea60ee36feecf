package pipeline

import (
	"errors"
	"testing"
)

func TestDecodeFrameValidates(t *testing.T) {
	const ok = `{"schema":1,"session":"s1","source":"a","frame":3,"media_ms":100,"capture_unix_ns":1,"face_found":true,"n_faces":1,` +
		`"primary":{"box":{"x":1,"y":2,"w":30,"h":30},"happiness":0.7,"probs":[0,0,0,0.7,0,0,0.3],` +
		`"quality":{"face_frac":0.3,"sharpness":100,"yaw":-12.5,"pitch":3.25,"roll":0.5}}}`
	f, err := DecodeFrame([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if q := f.Primary.Quality; q == nil || q.Yaw == nil || *q.Yaw != -12.5 || *q.Pitch != 3.25 || *q.Roll != 0.5 {
		t.Errorf("pose not decoded: %+v", f.Primary.Quality)
	}
	if f.Primary.Landmarks != nil {
		t.Error("landmarks decoded from a message: they are never published")
	}
	for _, tc := range []struct{ name, msg string }{
		{"happiness out of range", `{"schema":1,"session":"s1","face_found":true,"primary":{"happiness":1.5}}`},
		{"yaw out of range", `{"schema":1,"session":"s1","face_found":true,"primary":{"happiness":0.5,"quality":{"face_frac":0.2,"yaw":500}}}`},
		{"pitch out of range in faces", `{"schema":1,"session":"s1","face_found":true,"primary":{"happiness":0.5},"faces":[{"happiness":0.5,"quality":{"face_frac":0.2,"pitch":-181}}]}`},
		{"face without primary", `{"schema":1,"session":"s1","face_found":true}`},
	} {
		if _, err := DecodeFrame([]byte(tc.msg)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", tc.name, err)
		}
	}
}
