package main

import (
	"bytes"
	"strings"
	"testing"
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
	skips := summarize(strings.NewReader(in), &out)
	want := "    b_test.go:9: boom\n--- FAIL: TestB (0.00s)\nFAIL\tx/verify\t0.1s\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	line := skipLine(skips)
	if line != `skipped: 2 tests: 2× "needs Citus: citus.control is missing" (verify.TestA, bootstrap.TestD)` {
		t.Errorf("summary: %s", line)
	}
	if skipLine(nil) != "skipped: none" {
		t.Error(skipLine(nil))
	}
}
