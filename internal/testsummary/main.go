// Command testsummary runs `go test -json` with the given arguments and prints
// what plain `go test` would (package results, the output of failing tests),
// then one line that says which tests were skipped and why. A skipped test is
// a test that proved nothing, so `make test` must not hide them.
//
//	go run ./internal/testsummary -count=1 ./...
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
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output events
	Test       string
	Output     string
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
	skips := summarize(out, os.Stdout)
	err = cmd.Wait()
	fmt.Println(skipLine(skips))
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
// returns the skipped tests.
func summarize(r io.Reader, w io.Writer) []skip {
	buffered := map[string][]string{} // package/test -> output lines
	var skips []skip
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
			delete(buffered, key)
		case e.Action == "skip" && e.Test != "":
			skips = append(skips, skip{Test: shortPkg(e.Package) + "." + e.Test, Reason: reason(buffered[key])})
			delete(buffered, key)
		case e.Action == "pass" && e.Test != "":
			delete(buffered, key)
		}
	}
	return skips
}

var (
	marker   = regexp.MustCompile(`^\s*(=== (RUN|PAUSE|CONT|NAME)|--- (SKIP|PASS|FAIL))`)
	location = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)
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
