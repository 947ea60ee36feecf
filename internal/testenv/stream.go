package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Stream is a real network stream served by ffmpeg: a video file played at
// its own rate (looped) as MPEG-TS over HTTP, for one client at a time.
type Stream struct {
	URL   string
	video string
	port  int
	cmd   *exec.Cmd
}

// ServeStream serves video at http://127.0.0.1:PORT/cam with ffmpeg, or skips
// the test when ffmpeg is absent. The server is killed when the test ends.
func ServeStream(t testing.TB, video string) *Stream {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (scripts/setup.sh --test installs it): skipping the served-stream test")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Stream{URL: fmt.Sprintf("http://127.0.0.1:%d/cam", port), video: video, port: port}
	s.Start(t)
	// Fast probing of the stream by OpenCV's FFmpeg backend (default: 5 s of it).
	t.Setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "analyzeduration;500000|probesize;200000")
	return s
}

// Start (re)starts the server on the stream's port.
func (s *Stream) Start(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", s.video,
		"-c", "copy", "-f", "mpegts", "-listen", "1", s.URL)
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := s.cmd
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	// Wait until it listens (without connecting: it serves one client only).
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if listening(s.port) {
			return
		}
	}
	t.Fatalf("ffmpeg does not listen on port %d", s.port)
}

// listening reports whether a socket listens on 127.0.0.1:port (from /proc/net/tcp).
func listening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		time.Sleep(500 * time.Millisecond)
		return true
	}
	return containsListen(string(b), port)
}

func containsListen(table string, port int) bool {
	want := fmt.Sprintf(":%04X 00000000:0000 0A", port)
	for i := 0; i+len(want) <= len(table); i++ {
		if table[i:i+len(want)] == want {
			return true
		}
	}
	return false
}

// Kill kills the server with SIGKILL, as a crash would.
func (s *Stream) Kill() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// Freeze stops the server with SIGSTOP (a cut network: the connection stays
// open, nothing comes); the test's end resumes and kills it.
func (s *Stream) Freeze() { s.cmd.Process.Signal(syscall.SIGSTOP) }
