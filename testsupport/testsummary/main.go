// Command testsummary runs `go test -json` with the given arguments and prints
// what plain `go test` would (package results as each package finishes, the
// output of failing tests), every 30 seconds the packages still running,
// then every package's time, the 10 slowest tests, and one line that says
// which tests were skipped and why. A skipped test is
// a test that proved nothing, so `make test` must not hide them.
//
//	go run ./testsupport/testsummary -count=1 ./...
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output events
	Test       string
	Output     string
	Elapsed    float64 // seconds, on a package's pass, fail or skip
}

func main() {
	cmd := exec.Command("go", append([]string{"test", "-json"}, os.Args[1:]...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	w := &lockedWriter{w: os.Stdout}
	p := newProgress()
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if line := p.running(time.Now()); line != "" {
					fmt.Fprintln(w, line)
				}
			}
		}
	}()
	skips, failures := summarize(out, w, p)
	close(stop)
	err = cmd.Wait()
	if line := p.packageTimes(); line != "" {
		fmt.Fprintln(w, line)
	}
	if line := p.slowestTests(10); line != "" {
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w, skipLine(skips))
	// Last, so that a log cut to its tail (CI's) still says why each
	// test failed, above pages of container logs.
	for _, f := range failures {
		fmt.Fprint(w, f)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
}

// skip is one skipped test and the reason it gave.
type skip struct{ Test, Reason string }

// summarize copies the package-level output and failing tests' output to w and
// returns the skipped tests, and each failing test's own messages.
func summarize(r io.Reader, w io.Writer, p *progress) ([]skip, []string) {
	buffered := map[string][]string{} // package/test -> output lines
	var skips []skip
	var failures []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not JSON (go itself complaining): show it as it is.
			fmt.Fprintln(w, sc.Text())
			continue
		}
		key := e.Package + "/" + e.Test
		if p != nil {
			p.record(e, time.Now())
		}
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Test == "" && e.Action == "output":
			// -json implies -v, which adds a bare PASS before each "ok" line.
			if e.Output != "PASS\n" {
				fmt.Fprint(w, e.Output)
			}
		case e.Action == "output":
			buffered[key] = append(buffered[key], e.Output)
		case e.Action == "fail" && e.Test != "":
			fmt.Fprint(w, strings.Join(buffered[key], ""))
			if m := messages(buffered[key]); m != "" {
				failures = append(failures, "--- FAIL "+shortPkg(e.Package)+"."+e.Test+":\n"+m)
			}
			delete(buffered, key)
		case e.Action == "fail":
			// The test binary died (a -timeout panic, a crash, SIGQUIT):
			// its last words, the goroutine dump, are attributed to the
			// tests still running, which never end. Show them, or a hang
			// in CI says nothing about where it hung.
			prefix := e.Package + "/"
			var open []string
			for k := range buffered {
				if strings.HasPrefix(k, prefix) && k != prefix {
					open = append(open, k)
				}
			}
			sort.Strings(open)
			for _, k := range open {
				fmt.Fprintf(w, "--- %s did not end:\n%s", strings.TrimPrefix(k, prefix), strings.Join(buffered[k], ""))
				delete(buffered, k)
			}
		case e.Action == "skip" && e.Test != "":
			skips = append(skips, skip{Test: shortPkg(e.Package) + "." + e.Test, Reason: reason(buffered[key])})
			delete(buffered, key)
		case e.Action == "pass" && e.Test != "":
			delete(buffered, key)
		}
	}
	return skips, failures
}

// messages picks a failing test's own t.Error/t.Fatal lines (those at a
// _test.go location) with a few of their continuation lines, leaving out
// what helpers logged, such as container logs.
func messages(lines []string) string {
	var b strings.Builder
	in, kept := false, 0
	for _, l := range lines {
		switch {
		case testLocation.MatchString(l):
			in, kept = true, 0
		case in && kept < 8 && !location.MatchString(l) && !marker.MatchString(l):
		default:
			in = false
			continue
		}
		b.WriteString(l)
		kept++
	}
	return b.String()
}

var (
	testLocation = regexp.MustCompile(`^\s*[\w.-]+_test\.go:\d+: `)
	marker       = regexp.MustCompile(`^\s*(=== (RUN|PAUSE|CONT|NAME)|--- (SKIP|PASS|FAIL))`)
	location     = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)
)

// reason is the last line a skipped test wrote, without its file:line prefix
// (t.Skip's message, or testscript's "skip 'why'").
func reason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || marker.MatchString(lines[i]) {
			continue
		}
		return location.ReplaceAllString(l, "")
	}
	return "no reason given"
}

func shortPkg(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// skipLine says, on one line, how many tests were skipped and why, grouped by
// reason.
func skipLine(skips []skip) string {
	if len(skips) == 0 {
		return "skipped: none"
	}
	byReason := map[string][]string{}
	for _, s := range skips {
		byReason[s.Reason] = append(byReason[s.Reason], s.Test)
	}
	reasons := make([]string, 0, len(byReason))
	for r := range byReason {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if len(byReason[reasons[i]]) != len(byReason[reasons[j]]) {
			return len(byReason[reasons[i]]) > len(byReason[reasons[j]])
		}
		return reasons[i] < reasons[j]
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%d× %q (%s)", len(byReason[r]), r, strings.Join(byReason[r], ", "))
	}
	return fmt.Sprintf("skipped: %d tests: %s", len(skips), strings.Join(parts, "; "))
}

// lockedWriter lets the progress ticker and the summary write lines
// without interleaving them.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// progress follows which packages run and how long the finished ones
// and their top-level tests took.
type progress struct {
	mu       sync.Mutex
	started  map[string]time.Time
	finished map[string]time.Duration
	tests    map[string]time.Duration // package.Test
}

func newProgress() *progress {
	return &progress{started: map[string]time.Time{}, finished: map[string]time.Duration{}, tests: map[string]time.Duration{}}
}

func (p *progress) record(e event, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Test != "" {
		// Top-level tests only: a subtest's time is its parent's too.
		if (e.Action == "pass" || e.Action == "fail") && !strings.Contains(e.Test, "/") {
			p.tests[shortPkg(e.Package)+"."+e.Test] = time.Duration(e.Elapsed * float64(time.Second))
		}
		return
	}
	switch e.Action {
	case "start":
		p.started[e.Package] = now
	case "pass", "fail", "skip":
		d := time.Duration(e.Elapsed * float64(time.Second))
		if d == 0 {
			if t, ok := p.started[e.Package]; ok {
				d = now.Sub(t)
			}
		}
		p.finished[e.Package] = d
		delete(p.started, e.Package)
	}
}

// running says which packages are still running, and for how long.
func (p *progress) running(now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.started) == 0 {
		return ""
	}
	var parts []string
	for _, pkg := range sortedBy(p.started, func(t time.Time) float64 { return -float64(t.UnixNano()) }) {
		parts = append(parts, fmt.Sprintf("%s (%s)", pkg, now.Sub(p.started[pkg]).Round(time.Second)))
	}
	return "still running: " + strings.Join(parts, ", ")
}

// packageTimes lists every finished package's time, slowest first.
func (p *progress) packageTimes() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for _, pkg := range sortedBy(p.finished, func(d time.Duration) float64 { return float64(d) }) {
		parts = append(parts, fmt.Sprintf("%s %s", shortPkg(pkg), p.finished[pkg].Round(100*time.Millisecond)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "package times: " + strings.Join(parts, ", ")
}

// slowestTests names the n slowest top-level tests.
func (p *progress) slowestTests(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for _, t := range sortedBy(p.tests, func(d time.Duration) float64 { return float64(d) }) {
		if len(parts) == n {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %s", t, p.tests[t].Round(100*time.Millisecond)))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("slowest %d tests: %s", len(parts), strings.Join(parts, ", "))
}

// sortedBy lists m's keys, largest value first (ties by name).
func sortedBy[V any](m map[string]V, value func(V) float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := value(m[keys[i]]), value(m[keys[j]])
		if a != b {
			return a > b
		}
		return keys[i] < keys[j]
	})
	return keys
}
