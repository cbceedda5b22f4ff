package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/citusgen/citusgen/testsupport/pgtest"
)

// The TEST_RUNNER line testrunner prints is one Django imports, in the
// layout django-admin startproject makes: written beside settings.py, from
// the project's folder and from the package's, then Django's own get_runner
// (what manage.py test calls) loads the class through manage.py. The line
// the README gave before, 'citus_testrunner.CitusDiscoverRunner', fails
// there with ModuleNotFoundError, which this test shows too.
func TestTestRunnerLineImports(t *testing.T) {
	python := ""
	for _, c := range []string{os.Getenv("CITUSGEN_DJANGO_PYTHON"), "/usr/bin/python3", "python3"} {
		if c != "" && exec.Command(c, "-c", "import django").Run() == nil {
			python = c
			break
		}
	}
	if python == "" {
		pgtest.SkipUnavailable(t, "needs Django for python3 (apt-get install python3-django, or set CITUSGEN_DJANGO_PYTHON)")
	}
	root := t.TempDir()
	if out, err := exec.Command(python, "-m", "django", "startproject", "nusite", root).CombinedOutput(); err != nil {
		t.Fatalf("django-admin startproject: %v\n%s", err, out)
	}
	line := regexp.MustCompile(`TEST_RUNNER = '[^']*'`)
	getRunner := func(setting string) (string, int) {
		settings := filepath.Join(root, "nusite", "settings.py")
		data, err := os.ReadFile(settings)
		if err != nil {
			t.Fatal(err)
		}
		data = regexp.MustCompile(`(?m)^TEST_RUNNER = .*\n`).ReplaceAll(data, nil)
		if err := os.WriteFile(settings, append(data, setting+"\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := shell(t, root, python+` manage.py shell -c "from django.conf import settings; from django.test.utils import get_runner; print(get_runner(settings).__name__)"`)
		return out + errOut, code
	}
	for _, run := range []struct{ dir, script string }{
		{root, "citusgen testrunner > nusite/citus_testrunner.py"},
		{filepath.Join(root, "nusite"), "citusgen testrunner > citus_testrunner.py"},
	} {
		_, errOut, code := shell(t, run.dir, run.script)
		setting := line.FindString(errOut)
		if code != 0 || setting != "TEST_RUNNER = 'nusite.citus_testrunner.CitusDiscoverRunner'" {
			t.Fatalf("%s: exit %d, %q\n%s", run.script, code, setting, errOut)
		}
		if out, code := getRunner(setting); code != 0 || strings.TrimSpace(out) != "CitusDiscoverRunner" {
			t.Errorf("Django's get_runner with %s: exit %d\n%s", setting, code, out)
		}
	}
	if out, code := getRunner("TEST_RUNNER = 'citus_testrunner.CitusDiscoverRunner'"); code == 0 || !strings.Contains(out, "ModuleNotFoundError: No module named 'citus_testrunner'") {
		t.Errorf("the old README line loaded in a startproject layout: exit %d\n%s", code, out)
	}
}
