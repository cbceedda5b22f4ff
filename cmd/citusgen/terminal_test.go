package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Names from the user's files reach stderr in warnings and errors; an
// escape sequence in one is written escaped (\x1b), never as the bytes a
// terminal or a CI log viewer would act on.
func TestStderrEscapesUserText(t *testing.T) {
	dir := t.TempDir()
	compose := filepath.Join(dir, "hq-compose.yml")
	doc := "services:\n" +
		"  citus_master:\n    image: citusdata/citus:13.2\n    labels: {com.citusdata.role: Master}\n    ports: [\"5600:5432\"]\n" +
		"  citus_worker1:\n    image: citusdata/citus:13.2\n    labels: {com.citusdata.role: Worker}\n    ports: [\"5601:5432\"]\n" +
		"  \"\\e]0;pwned\\a\\e[2Jtool\":\n    image: citusdata/citus:13.2\n    command: [psql, --version]\n"
	if err := os.WriteFile(compose, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, nil, "import", "--compose", compose)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.ContainsAny(errOut, "\x1b\a") {
		t.Errorf("raw control characters on stderr: %q", errOut)
	}
	if want := `: service \x1b]0;pwned\a\x1b[2Jtool runs the citus image with its own command; not a node, left out`; !strings.Contains(errOut, want) {
		t.Errorf("stderr %q, want it to hold %q", errOut, want)
	}
}
