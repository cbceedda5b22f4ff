package testrunner_test

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/citusgen/citusgen/testrunner"
)

// The module compiles with any python3, Django or not (the live tests,
// which need Django, skip without it).
func TestModuleCompiles(t *testing.T) {
	cmd := exec.Command("python3", "-c", "import sys; compile(sys.stdin.read(), 'citus_testrunner.py', 'exec')")
	cmd.Stdin = bytes.NewReader(testrunner.Module())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python3 rejected %s: %v\n%s", testrunner.FileName, err, out)
	}
}
