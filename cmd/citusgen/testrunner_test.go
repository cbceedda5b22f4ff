package main

import (
	"strings"
	"testing"

	"github.com/citusgen/citusgen/testrunner"
)

// citusgen testrunner prints exactly the module the Django tests in
// testrunner/ run against live Citus clusters.
func TestTestrunnerPrintsTheTestedModule(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "testrunner")
	// stderr says how to name it in TEST_RUNNER (testrunner_line_test.go).
	if code != 0 || !strings.HasPrefix(errOut, "citusgen: set TEST_RUNNER = ") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if out != string(testrunner.Module()) {
		t.Fatalf("citusgen testrunner printed something else than testrunner/%s:\n%s", testrunner.FileName, out)
	}
}
