package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Every command that connects to the cluster (it takes --reach) refuses to
// run without a spec the user chose, before connecting: a command added
// later gets the rule through liveFlags.live / spec(e, forCluster), and this test
// finds it by its flags. Run in a folder with no citusgen.yaml above it.
func TestClusterCommandsNeedAChosenSpec(t *testing.T) {
	t.Chdir(t.TempDir())
	var c cli
	parser, err := newParser(&c, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, leaf := range parser.Model.Leaves(true) {
		reaches := false
		for _, group := range leaf.AllFlags(true) {
			for _, f := range group {
				reaches = reaches || f.Name == "reach" // connFlags
			}
		}
		if !reaches {
			continue
		}
		args := strings.Fields(strings.TrimPrefix(leaf.FullPath(), "citusgen "))
		seen = append(seen, strings.Join(args, " "))
		// --yes, --prune, --rebalance: the forms that change the cluster,
		// which flags a command does not have would refuse before the rule.
		for _, f := range []string{"yes", "prune", "rebalance", "wait"} {
			for _, group := range leaf.AllFlags(true) {
				for _, fl := range group {
					if fl.Name == f && f == "wait" {
						args = append(args, "--wait", "0")
					} else if fl.Name == f {
						args = append(args, "--"+f)
					}
				}
			}
		}
		// Should the rule break, every node of the embedded default is
		// on port 1, where nothing listens: a regression must not reach a
		// cluster on the default ports.
		args = append(args, "--node", "citus_master=127.0.0.1:1,citus_worker1=127.0.0.1:1,citus_worker2=127.0.0.1:1")
		code, out, errOut := runCLI(t, nil, args...)
		if code != exitBadInput || out != "" || !strings.Contains(errOut, " connects to the live cluster, so it runs only on a topology you chose, and there is no citusgen.yaml in ") {
			t.Errorf("citusgen %s without a spec: exit %d, stdout %q, stderr %q; want exit 2 and the refusal", strings.Join(args, " "), code, out, errOut)
		}
	}
	for _, want := range []string{"bootstrap", "plan", "reset", "verify"} {
		if !strings.Contains(" "+strings.Join(seen, " ")+" ", " "+want+" ") {
			t.Errorf("commands that take --reach: %v; want %s among them", seen, want)
		}
	}
}

// The README's Quick start: its citusgen commands, run by the built binary
// with sh in an empty folder, as a user runs them (those that need the
// cluster, docker compose and verify, are composetest's TestComposeQuickStart).
// Then check accepts what they wrote, and each header names the command
// that writes its file again.
func TestQuickStartFilesPassCheck(t *testing.T) {
	bin, err := exec.LookPath("citusgen")
	if err != nil {
		t.Fatalf("citusgen is not on PATH, where testscript.Main puts it: %v", err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The block follows the heading, after the comment that marks it
	// for TestDocsCommands.
	_, block, ok := strings.Cut(string(readme), "\n## Quick start\n\n")
	_, block, ok1 := strings.Cut(block, "```sh\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok1 || !ok2 {
		t.Fatal("README.md has no ## Quick start with a sh block")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(dir, "bin", "citusgen")); err != nil {
		t.Fatal(err)
	}
	var ran []string
	for _, line := range strings.Split(block, "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		cmd = strings.TrimSpace(cmd)
		if !strings.HasPrefix(cmd, "bin/citusgen ") || strings.HasPrefix(cmd, "bin/citusgen verify") {
			continue
		}
		ran = append(ran, cmd)
		if out, errOut, code := shell(t, dir, cmd); code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", cmd, code, out, errOut)
		}
	}
	if !strings.Contains(strings.Join(ran, "\n"), "bin/citusgen check ") {
		t.Errorf("the Quick start runs no check: %q", ran)
	}
	if _, errOut, code := shell(t, dir, "bin/citusgen check --compose hq-compose.yml --settings localsettings.py"); code != 0 || errOut != "citusgen: no drift\n" {
		t.Errorf("check of the Quick start's files: exit %d\n%s", code, errOut)
	}
	for file, want := range map[string]string{
		"hq-compose.yml":   "#   citusgen render --into hq-compose.yml\n",
		"localsettings.py": "# Change the topology, then run: citusgen render settings --into localsettings.py\n",
	} {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), want) {
			t.Errorf("%s does not name the command that writes it again, %q:\n%s", file, want, data)
		}
	}
}

// shell runs script with sh in dir: stdout, stderr and the exit status.
func shell(t *testing.T, dir, script string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	code := exitCode(cmd.Run())
	return out.String(), errOut.String(), code
}

// embeddedNote is what stderr starts with when a command uses the
// embedded default.
const embeddedNote = "citusgen: topology: the embedded default (CommCare HQ's coordinator and 2 workers): no citusgen.yaml in this folder or any folder above it (citusgen init writes one)\n"
