package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docBlock is one ```sh block of README.md or docs/*.md.
type docBlock struct {
	file   string // relative to the repository's root
	line   int    // of the opening fence
	marker string // the <!-- not run: ... --> comment right before it, if any
	script string
}

// docBlocks returns every sh block of README.md and docs/*.md.
func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"../../README.md"}, files...)
	var blocks []docBlock
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		for i := 0; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) != "```sh" {
				continue
			}
			b := docBlock{file: strings.TrimPrefix(f, "../../"), line: i + 1}
			for j := i - 1; j >= 0; j-- {
				if prev := strings.TrimSpace(lines[j]); prev != "" {
					if strings.HasPrefix(prev, "<!-- not run") {
						b.marker = prev
					}
					break
				}
			}
			indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " "))]
			var body []string
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
				body = append(body, strings.TrimPrefix(lines[i], indent))
			}
			if i == len(lines) {
				t.Fatalf("%s:%d: a sh block that never ends", b.file, b.line)
			}
			b.script = strings.Join(body, "\n") + "\n"
			blocks = append(blocks, b)
		}
	}
	return blocks
}

// liveCommands are the citusgen commands that connect to the cluster: those
// that take the connection flags (--reach), found as
// TestClusterCommandsNeedAChosenSpec finds them, so a command added later
// is one too. Every other command runs offline.
func liveCommands(t *testing.T) map[string]bool {
	t.Helper()
	var c cli
	parser, err := newParser(&c, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, leaf := range parser.Model.Leaves(true) {
		for _, group := range leaf.AllFlags(true) {
			for _, f := range group {
				if f.Name == "reach" {
					names[strings.Fields(strings.TrimPrefix(leaf.FullPath(), "citusgen "))[0]] = true
				}
			}
		}
	}
	return names
}

// runnable says whether every command of script is a citusgen command
// that needs no cluster and no docker (or a cd), and why not.
func runnable(script string, liveCommands map[string]bool) (bool, string) {
	for _, line := range strings.Split(strings.ReplaceAll(script, "\\\n", " "), "\n") {
		cmd := strings.TrimSpace(line)
		if cmd == "" || strings.HasPrefix(cmd, "#") {
			continue
		}
		words := strings.Fields(cmd)
		if words[0] == "cd" {
			continue
		}
		if words[0] != "citusgen" && words[0] != "bin/citusgen" {
			return false, "runs " + words[0]
		}
		args := words[1:]
		for len(args) > 1 && (args[0] == "-t" || args[0] == "--topology") {
			args = args[2:]
		}
		if len(args) == 0 {
			continue // bare citusgen: the usage
		}
		offline := !liveCommands[args[0]] || slicesContains(args, "--help") || args[0] == "bootstrap" && slicesContains(args, "--dry-run")
		if !offline {
			return false, "citusgen " + args[0] + " needs a live cluster"
		}
	}
	return true, ""
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v || strings.HasPrefix(x, v+"=") {
			return true
		}
	}
	return false
}

// The docs cannot drift from the tool: every sh block of README.md and
// docs/*.md either runs here, with the built binary in a project folder
// (every command must succeed, and a `# stderr: TEXT` line must be what the
// block prints on stderr), or is marked `<!-- not run: why (covered by
// TestX) -->` right before it, and every test a marker names exists. A
// marker on a block that could run is an error too: it would hide it.
func TestDocsCommands(t *testing.T) {
	tests := testNames(t)
	live := liveCommands(t)
	for _, want := range []string{"bootstrap", "plan", "verify", "reset", "password", "upgrade"} {
		if !live[want] {
			t.Errorf("commands that take --reach: %v; want %s among them", live, want)
		}
	}
	blocks := docBlocks(t)
	if len(blocks) < 10 {
		t.Fatalf("only %d sh blocks in README.md and docs/*.md", len(blocks))
	}
	ran := 0
	for _, b := range blocks {
		where := b.file + ":" + strconv.Itoa(b.line)
		ok, why := runnable(b.script, live)
		if b.marker != "" {
			if ok {
				t.Errorf("%s: marked %q, but it runs offline: remove the marker, so the test runs it", where, b.marker)
			}
			for _, name := range regexp.MustCompile(`\bTest\w+`).FindAllString(b.marker, -1) {
				if !tests[name] {
					t.Errorf("%s: the marker names %s, which no _test.go file defines", where, name)
				}
			}
			continue
		}
		if !ok {
			t.Errorf("%s: %s: run it offline, or mark it with <!-- not run: why (covered by TestX) --> right before the block\n%s", where, why, b.script)
			continue
		}
		ran++
		t.Run(strings.ReplaceAll(where, "/", "_"), func(t *testing.T) {
			t.Parallel()
			dir := docsProject(t)
			out, errOut, code := shell(t, dir, "set -e\n"+b.script)
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s\nstdout:\n%s\nstderr:\n%s", where, code, b.script, out, errOut)
			}
			for _, line := range strings.Split(b.script, "\n") {
				if want, ok := strings.CutPrefix(strings.TrimSpace(line), "# stderr: "); ok && !strings.Contains(errOut, want+"\n") {
					t.Errorf("%s: stderr does not say %q:\n%s", where, want, errOut)
				}
			}
		})
	}
	if ran == 0 {
		t.Error("no sh block of the docs runs")
	}
}

// docsProject is the folder a doc block runs in: the binary as
// bin/citusgen (citusgen is on PATH already), CommCare HQ's compose and
// settings files in docker/ (files.md adopts them), and a django-admin
// startproject layout in myproject/ (django.md writes the runner there).
func docsProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin, err := exec.LookPath("citusgen")
	if err != nil {
		t.Fatalf("citusgen is not on PATH, where testscript.Main puts it: %v", err)
	}
	for _, d := range []string{"bin", "docker", "myproject/myproject"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(bin, filepath.Join(dir, "bin", "citusgen")); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"myproject/manage.py":             "",
		"myproject/myproject/__init__.py": "",
		"myproject/myproject/settings.py": "",
	}
	for _, f := range []string{"hq-compose.yml", "localsettings.py"} {
		data, err := os.ReadFile(filepath.Join("../../golden/import-hq-2020/input", f))
		if err != nil {
			t.Fatal(err)
		}
		files["docker/"+f] = string(data)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// testNames is every Test function the repository's _test.go files define.
func testNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	def := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "golden" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != "../..") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range def.FindAllStringSubmatch(string(data), -1) {
			names[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// Every relative link of README.md and docs/*.md names a file that exists
// and, after #, a heading of it (GitHub's anchor of the heading), so moving
// a section between pages cannot leave a link behind.
func TestDocsLinks(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"../../README.md"}, files...)
	fence := regexp.MustCompile("(?ms)^\\s*```.*?^\\s*```")
	heading := regexp.MustCompile(`(?m)^#+ (.*)$`)
	notInAnchor := regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
	anchors := func(file string) map[string]bool {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil
		}
		set := map[string]bool{}
		for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(string(data), ""), -1) {
			set[strings.ReplaceAll(notInAnchor.ReplaceAllString(strings.ToLower(strings.TrimSpace(m[1])), ""), " ", "-")] = true
		}
		return set
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			file := f
			if path != "" {
				file = filepath.Join(filepath.Dir(f), path)
			}
			checked++
			if _, err := os.Stat(file); err != nil {
				t.Errorf("%s: link %s: %v", strings.TrimPrefix(f, "../../"), target, err)
			} else if anchor != "" && !anchors(file)[anchor] {
				t.Errorf("%s: link %s: %s has no heading with that anchor", strings.TrimPrefix(f, "../../"), target, strings.TrimPrefix(file, "../../"))
			}
		}
	}
	if checked == 0 {
		t.Error("no relative link in the docs")
	}
}
