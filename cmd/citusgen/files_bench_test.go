package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/testsupport/dockertest"
)

// Shapes of large users' files: what fills them.
var largeShapes = map[string]func(i int) string{
	"settings/comments":   func(i int) string { return "# " + strings.Repeat("x", 76) + "\n" },
	"settings/statements": func(i int) string { return fmt.Sprintf("SETTING_%d = 'value %d %s'\n", i, i, strings.Repeat("z", 20)) },
	"compose/comments":    func(i int) string { return "# " + strings.Repeat("x", 76) + "\n" },
	"compose/scalar":      func(i int) string { return "  " + strings.Repeat("y", 78) + "\n" },
	"compose/services": func(i int) string {
		return fmt.Sprintf("  svc%d:\n    image: busybox:1.36\n    environment:\n      A: \"%d\"\n", i, i)
	},
}

// largeFile is a settings or compose file of about size bytes in a shape.
func largeFile(shape string, size int) []byte {
	var b bytes.Buffer
	line := largeShapes[shape]
	switch shape {
	case "compose/scalar":
		// (not a service's command: compose-go splits a command into words
		// in time that grows faster than its length)
		b.WriteString("services:\n  web:\n    image: web\nx-doc: |\n")
	case "compose/comments", "compose/services":
		b.WriteString("services:\n  web:\n    image: web\n")
	default:
		b.WriteString("DATABASES = {}\nREPORTING_DATABASES = {}\n")
	}
	for i := 0; b.Len() < size; i++ {
		b.WriteString(line(i))
	}
	return b.Bytes()
}

// BenchmarkIntoLargeFiles: `render --into` (or `render settings --into`)
// on large users' files, each shape at 5 and 50 MB, in this process.
// Target: time and memory linear in the size, at most 2 s and 200 MB at
// 50 MB. Reported: s/op, rss-MB (the peak resident memory of this process
// during the command, the test binary's own included), py-rss-MB (the
// python3 process's peak). compose-go loads every compose file citusgen
// writes, with validation on; its YAML parse alone is about 2 s for 50 MB
// of comments here, and its validation grows with the number of services,
// so the compose shapes are measured to show that cost, not to meet the
// target (compose/services at 1 and 5 MB only). python3 parses a settings
// file whole, which takes minutes for millions of statements
// (settings/statements at 1 and 5 MB only).
//
// The compose shapes also report compose-go-s, compose-go's own load of
// the same file with nothing else, outside the timed loop: the floor the
// required library sets.
//
//	go test ./cmd/citusgen -run '^$' -bench IntoLargeFiles -benchtime 2x
func BenchmarkIntoLargeFiles(b *testing.B) {
	const mb = 1 << 20
	for _, c := range []struct {
		shape string
		sizes []int
	}{
		{"settings/comments", []int{5, 50}},
		{"settings/statements", []int{1, 5}},
		{"compose/comments", []int{5, 50}},
		{"compose/scalar", []int{5, 50}},
		{"compose/services", []int{1, 5}},
	} {
		for _, size := range c.sizes {
			b.Run(fmt.Sprintf("%s/%dMB", c.shape, size), func(b *testing.B) {
				data := largeFile(c.shape, size*mb)
				path := filepath.Join(b.TempDir(), "file")
				args := []string{"render", "--into", path}
				if strings.HasPrefix(c.shape, "settings") {
					args = []string{"render", "settings", "--into", path}
				}
				var floor time.Duration
				if strings.HasPrefix(c.shape, "compose") {
					floor = composeFloor(b, data)
				}
				var rss, pyRSS int64
				pyPeaks := pythonPeaks(b)
				for b.Loop() {
					b.StopTimer()
					if err := os.WriteFile(path, data, 0o644); err != nil {
						b.Fatal(err)
					}
					resetPeakRSS()
					b.StartTimer()
					var out, errOut bytes.Buffer
					if code := run(args, strings.NewReader(""), &out, &errOut); code != 0 {
						b.Fatalf("exit %d: %s", code, errOut.String())
					}
					b.StopTimer()
					rss = max(rss, peakRSS())
					settingsfile.Close()
					pyRSS = max(pyRSS, pyPeaks())
					b.StartTimer()
				}
				b.ReportMetric(float64(rss)/mb, "rss-MB")
				b.ReportMetric(float64(pyRSS)/mb, "py-rss-MB")
				b.ReportMetric(float64(len(data))/mb, "file-MB")
				if floor > 0 {
					// (after the loop: b.Loop clears what was reported before it)
					b.ReportMetric(floor.Seconds(), "compose-go-s")
				}
			})
		}
	}
}

// pythonPeaks puts a python3 in front of the one citusgen runs that notes
// the peak resident memory of the interpreter it starts (its rusage; a
// child's counts the memory of its parent at the start, about 10 MB for
// python3, which is why it is not citusgen's). The function returned
// answers the largest noted since its last call.
func pythonPeaks(b *testing.B) func() int64 {
	b.Helper()
	py, err := settingsfile.Interpreter()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	peaks, wrapper := filepath.Join(dir, "peaks"), filepath.Join(dir, "python3")
	const note = `import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "a") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)`
	script := fmt.Sprintf("#!/bin/sh\nexec '%s' -c '%s' '%s' '%s' \"$@\"\n", py, note, peaks, py)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		b.Fatal(err)
	}
	b.Setenv(settingsfile.PythonEnv, wrapper)
	return func() int64 {
		data, _ := os.ReadFile(peaks)
		os.Remove(peaks)
		var most int64
		for _, f := range strings.Fields(string(data)) {
			kb, _ := strconv.ParseInt(f, 10, 64)
			most = max(most, kb*1024)
		}
		return most
	}
}

// composeFloor is how long compose-go, which citusgen must use, takes to
// load data alone.
func composeFloor(b *testing.B, data []byte) time.Duration {
	b.Helper()
	start := time.Now()
	if _, err := dockertest.Load(context.Background(), "file", data, nil); err != nil {
		// compose-go refuses some large documents outright (a limit on
		// the YAML nodes it visits): no floor then.
		b.Logf("compose-go alone: %v", err)
		return 0
	}
	return time.Since(start)
}

// resetPeakRSS starts a new peak of this process's resident memory
// (Linux: writing 5 to clear_refs resets VmHWM).
// What earlier iterations left on the heap is returned to the system first.
func resetPeakRSS() {
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS is this process's peak resident memory (VmHWM) since the reset.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
