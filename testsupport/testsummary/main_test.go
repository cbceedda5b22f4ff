package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"start","Package":"x/verify"}`,
		`{"Action":"run","Package":"x/verify","Test":"TestA"}`,
		`{"Action":"output","Package":"x/verify","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"x/verify","Test":"TestA","Output":"    pgtest.go:133: needs Citus: citus.control is missing\n"}`,
		`{"Action":"output","Package":"x/verify","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}`,
		`{"Action":"skip","Package":"x/verify","Test":"TestA"}`,
		`{"Action":"output","Package":"x/verify","Test":"TestB","Output":"    b_test.go:9: boom\n"}`,
		`{"Action":"output","Package":"x/verify","Test":"TestB","Output":"        exit 1\n"}`,
		`{"Action":"output","Package":"x/verify","Test":"TestB","Output":"    dockertest.go:179: docker compose logs:\n"}`,
		`{"Action":"output","Package":"x/verify","Test":"TestB","Output":"        node-1 | LOG: noise\n"}`,
		`{"Action":"output","Package":"x/verify","Test":"TestB","Output":"--- FAIL: TestB (0.00s)\n"}`,
		`{"Action":"fail","Package":"x/verify","Test":"TestB"}`,
		`{"Action":"output","Package":"x/verify","Test":"TestC","Output":"    c_test.go:9: quiet\n"}`,
		`{"Action":"pass","Package":"x/verify","Test":"TestC"}`,
		`{"Action":"output","Package":"x/bootstrap","Test":"TestD","Output":"    d_test.go:1: needs Citus: citus.control is missing\n"}`,
		`{"Action":"skip","Package":"x/bootstrap","Test":"TestD"}`,
		`{"Action":"output","Package":"x/verify","Output":"FAIL\tx/verify\t0.1s\n"}`,
		`{"Action":"fail","Package":"x/verify"}`,
	}, "\n")
	var out bytes.Buffer
	skips, failures := summarize(strings.NewReader(in), &out, nil)
	want := "    b_test.go:9: boom\n        exit 1\n    dockertest.go:179: docker compose logs:\n        node-1 | LOG: noise\n--- FAIL: TestB (0.00s)\nFAIL\tx/verify\t0.1s\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	// The test's own message, without what a helper logged after it.
	if want := []string{"--- FAIL verify.TestB:\n    b_test.go:9: boom\n        exit 1\n"}; !slices.Equal(failures, want) {
		t.Errorf("failures: %q, want %q", failures, want)
	}
	line := skipLine(skips)
	if line != `skipped: 2 tests: 2× "needs Citus: citus.control is missing" (verify.TestA, bootstrap.TestD)` {
		t.Errorf("summary: %s", line)
	}
	if skipLine(nil) != "skipped: none" {
		t.Error(skipLine(nil))
	}
}

// A test binary that dies mid-test (a timeout panic, SIGQUIT on a hang)
// leaves tests that never end: their output, the goroutine dump, is shown.
func TestSummarizeDeadBinary(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"x/cmd","Test":"TestHangs"}`,
		`{"Action":"output","Package":"x/cmd","Test":"TestHangs","Output":"=== RUN   TestHangs\n"}`,
		`{"Action":"output","Package":"x/cmd","Test":"TestHangs","Output":"SIGQUIT: quit\n"}`,
		`{"Action":"output","Package":"x/cmd","Test":"TestHangs","Output":"goroutine 7 [chan receive]:\n"}`,
		`{"Action":"output","Package":"x/cmd","Test":"TestOK","Output":"    quiet\n"}`,
		`{"Action":"pass","Package":"x/cmd","Test":"TestOK"}`,
		`{"Action":"output","Package":"x/cmd","Output":"FAIL\tx/cmd\t9.0s\n"}`,
		`{"Action":"fail","Package":"x/cmd"}`,
	}, "\n")
	var out bytes.Buffer
	summarize(strings.NewReader(in), &out, nil)
	want := "FAIL\tx/cmd\t9.0s\n--- TestHangs did not end:\n=== RUN   TestHangs\nSIGQUIT: quit\ngoroutine 7 [chan receive]:\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// Packages still running are named with how long they have run; the slow
// ones that finished are named at the end.
func TestProgress(t *testing.T) {
	p := newProgress()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.record(event{Action: "start", Package: "x/a"}, t0)
	p.record(event{Action: "start", Package: "x/b"}, t0.Add(10*time.Second))
	p.record(event{Action: "start", Package: "x/c"}, t0.Add(20*time.Second))
	p.record(event{Action: "pass", Package: "x/c", Elapsed: 0.5}, t0.Add(21*time.Second))
	if got := p.running(t0.Add(90 * time.Second)); got != "still running: x/a (1m30s), x/b (1m20s)" {
		t.Errorf("running: %s", got)
	}
	p.record(event{Action: "pass", Package: "x/a", Elapsed: 95}, t0.Add(95*time.Second))
	p.record(event{Action: "fail", Package: "x/b", Elapsed: 130.25}, t0.Add(140*time.Second))
	if got := p.running(t0.Add(150 * time.Second)); got != "" {
		t.Errorf("running: %s", got)
	}
	if got := p.packageTimes(); got != "package times: b 2m10.3s, a 1m35s, c 500ms" {
		t.Errorf("package times: %s", got)
	}
	// Top-level tests only, slowest first; a subtest is in its parent's time.
	for i, name := range []string{"TestA", "TestB", "TestB/sub", "TestC"} {
		p.record(event{Action: "pass", Package: "x/a", Test: name, Elapsed: float64(10 * (i + 1))}, t0)
	}
	p.record(event{Action: "fail", Package: "x/b", Test: "TestD", Elapsed: 5}, t0)
	if got := p.slowestTests(3); got != "slowest 3 tests: a.TestC 40s, a.TestB 20s, a.TestA 10s" {
		t.Errorf("slowest tests: %s", got)
	}
}
