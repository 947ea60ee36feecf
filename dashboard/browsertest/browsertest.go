// Package browsertest starts a real headless Chromium for affect's browser
// tests (the dashboard's and the report's), driven with chromedp.
//
// The browser is Debian's `chromium` (scripts/setup.sh --test installs it),
// or the program named by $AFFECT_CHROMIUM. When none is found the test is
// skipped with a message, unless $AFFECT_REQUIRE_CHROMIUM is set (CI), in
// which case it fails.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ExecPath returns the Chromium to use, or "" when none is installed.
func ExecPath() string {
	if p := os.Getenv("AFFECT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Options change how the browser starts.
type Options struct {
	// Offline makes every network request fail: host names resolve to
	// nothing and every connection goes to a dead proxy. file: and data:
	// URLs still load.
	Offline bool
	// Width and Height of the window; 0 means 1280x900.
	Width, Height int
}

// Start starts a headless Chromium and returns a chromedp context with one
// tab, closed when the test ends. It skips the test when no Chromium is
// installed (see the package documentation).
func Start(t testing.TB, o Options) context.Context {
	t.Helper()
	path := ExecPath()
	if path == "" {
		msg := "Chromium is not installed: the browser test cannot run; install it with `apt-get install -y --no-install-recommends chromium` (scripts/setup.sh --test does) or set AFFECT_CHROMIUM"
		if os.Getenv("AFFECT_REQUIRE_CHROMIUM") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if o.Width == 0 {
		o.Width, o.Height = 1280, 900
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(o.Width, o.Height),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
	}
	if o.Offline {
		opts = append(opts,
			chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND"),
			chromedp.Flag("proxy-server", "http://127.0.0.1:9"),
			chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting Chromium %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

// Artifacts returns the directory for test artifacts (screenshots): the
// directory $AFFECT_ARTIFACTS (created if needed), else a temporary one.
func Artifacts(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("AFFECT_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// SaveArtifact writes data to name in Artifacts(t) and logs the path.
func SaveArtifact(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(Artifacts(t), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("artifact: %s (%d bytes)", p, len(data))
	return p
}

// Timeout returns a context for one step that ends after d.
func Timeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// Name makes a file-name-safe artifact name from a test name.
func Name(t testing.TB, suffix string) string {
	return strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + suffix
}
