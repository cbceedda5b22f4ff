package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/citusgen/citusgen/testsupport/dockertest"
	"github.com/citusgen/citusgen/testsupport/pgtest"
)

// TestPreCommitHook installs the citusgen-check hook of .pre-commit-hooks.yaml
// with the real pre-commit, from a repository holding this tree, into a
// project laid out as CommCare HQ's (its files under docker/, named in the
// hook's args as docs/files.md shows). pre-commit builds the hook with its
// golang language (go install ./... of the clone); the hook then passes on
// files in sync, fails with the diff on drift, and, installed as the git
// hook, stops the commit that brings the drift.
func TestPreCommitHook(t *testing.T) {
	for _, prog := range []string{"pre-commit", "git", "go"} {
		if _, err := exec.LookPath(prog); err != nil {
			pgtest.SkipUnavailable(t, "%s is not installed (pre-commit: Debian's pre-commit package; PyPI is not needed)", prog)
		}
	}
	bin := dockertest.Citusgen(t)
	tmp := t.TempDir()
	env := append(os.Environ(),
		"PRE_COMMIT_HOME="+filepath.Join(tmp, "pre-commit-home"),
		"GIT_AUTHOR_NAME=citusgen test", "GIT_AUTHOR_EMAIL=test@example.invalid",
		"GIT_COMMITTER_NAME=citusgen test", "GIT_COMMITTER_EMAIL=test@example.invalid",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		// The hook's environment has a GOPATH of its own: sharing this
		// module cache spares the downloads (the proxy serves what is
		// missing); go install still builds the clone from source.
		"GOMODCACHE="+goEnv(t, "GOMODCACHE"),
		// Go's build cache too.
		"GOCACHE="+goEnv(t, "GOCACHE"),
	)
	run := func(dir string, wantOK bool, name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("%s %s in %s: %v, want success %v\n%s", name, strings.Join(args, " "), dir, err, wantOK, out)
		}
		return string(out)
	}

	// The hook repository: this module's files as they are in the work
	// tree, committed.
	hooks := filepath.Join(tmp, "citusgen")
	copyModule(t, hooks)
	run(hooks, true, "git", "init", "-q", "-b", "main")
	run(hooks, true, "git", "add", "-A")
	run(hooks, true, "git", "commit", "-q", "-m", "citusgen under test")
	rev := strings.TrimSpace(run(hooks, true, "git", "rev-parse", "HEAD"))

	// The project: its spec and files under docker/, kept in sync.
	project := filepath.Join(tmp, "project")
	docker := filepath.Join(project, "docker")
	if err := os.MkdirAll(docker, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(docker, "citusgen.yaml"), "coordinator: {service: citus_master, alias: icds-ucr, port: 5600}\nworkers: [{service: citus_worker1, alias: citus-ucr-worker1, port: 5601}]\npassword_env: CITUS_PASSWORD\n")
	write(t, filepath.Join(docker, "hq-compose.yml"), "services:\n  web:\n    image: busybox\n")
	write(t, filepath.Join(docker, "localsettings.py"), "DATABASES = {}\nREPORTING_DATABASES = {}\n")
	run(project, true, bin, "-t", "docker/citusgen.yaml", "render", "--into", "docker/hq-compose.yml")
	run(project, true, bin, "-t", "docker/citusgen.yaml", "render", "settings", "--into", "docker/localsettings.py")
	write(t, filepath.Join(project, ".pre-commit-config.yaml"), fmt.Sprintf(`repos:
  - repo: %s
    rev: %s
    hooks:
      - id: citusgen-check
        args: [-t, docker/citusgen.yaml, --compose, docker/hq-compose.yml, --settings, docker/localsettings.py]
        files: ^docker/(citusgen\.yaml|hq-compose\.yml|localsettings\.py)$
`, hooks, rev))
	run(project, true, "git", "init", "-q", "-b", "main")
	run(project, true, "git", "add", "-A")
	run(project, true, "git", "commit", "-q", "-m", "the cluster")

	out := run(project, true, "pre-commit", "run", "--all-files")
	if !strings.Contains(out, "citusgen check") || !strings.Contains(out, "Passed") {
		t.Fatalf("pre-commit run on files in sync:\n%s", out)
	}
	// The hook runs the binary pre-commit built from the clone.
	built, err := filepath.Glob(filepath.Join(tmp, "pre-commit-home", "repo*", "golangenv-*", "bin", "citusgen"))
	if err != nil || len(built) != 1 {
		t.Fatalf("pre-commit's golang environment holds %v (%v), want one citusgen", built, err)
	}

	// Drift fails the hook with check's diff, and the installed git hook
	// stops the commit.
	compose := filepath.Join(docker, "hq-compose.yml")
	data, err := os.ReadFile(compose)
	if err != nil {
		t.Fatal(err)
	}
	write(t, compose, strings.Replace(string(data), "5601}:5432", "5611}:5432", 1))
	out = run(project, false, "pre-commit", "run", "--all-files")
	for _, want := range []string{"citusgen check", "Failed", `-      - "127.0.0.1:${CITUS_WORKER1_EXTERNAL_PORT:-5611}:5432"`, "citusgen: drift found"} {
		if !strings.Contains(out, want) {
			t.Errorf("pre-commit run on drift does not say %q:\n%s", want, out)
		}
	}
	run(project, true, "pre-commit", "install")
	out = run(project, false, "git", "commit", "-qam", "edited by hand")
	if !strings.Contains(out, "citusgen check") || !strings.Contains(out, "Failed") {
		t.Errorf("git commit with drift:\n%s", out)
	}
	if n := strings.TrimSpace(run(project, true, "git", "rev-list", "--count", "HEAD")); n != "1" {
		t.Errorf("the commit with drift went in: %s commits", n)
	}
}

// copyModule copies this module's files (tracked and untracked, not
// ignored, as the work tree holds them) to dst.
func copyModule(t *testing.T, dst string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	list, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		pgtest.SkipUnavailable(t, "the module is not a git work tree (%v); the hook test copies its files from one", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or not a file
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return string(bytes.TrimSpace(out))
}
