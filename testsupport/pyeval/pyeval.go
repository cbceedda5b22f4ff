// Package pyeval runs Python the tests check citusgen's output with: a
// settings fragment as localsettings.py would run it.
package pyeval

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"
)

// Settings runs a rendered fragment with python3 the way localsettings.py
// would (DATABASES and REPORTING_DATABASES already exist) and returns what it
// defined.
func Settings(t *testing.T, fragment []byte, env ...string) map[string]any {
	t.Helper()
	const prelude = "DATABASES = {}\nREPORTING_DATABASES = {}\n"
	const dump = `
import json, sys
_out = {k: v for k, v in dict(globals()).items() if k.isupper()}
json.dump(_out, sys.stdout)
`
	cmd := exec.Command("python3", "-c", prelude+string(fragment)+dump)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("python3 rejected the fragment: %v\n%s\n%s", err, msg, fragment)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return got
}
