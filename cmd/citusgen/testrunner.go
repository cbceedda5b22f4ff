package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/citusgen/citusgen/testrunner"
)

// testrunnerCmd prints the Django test runner module; it reads no spec, since
// the module finds the cluster's aliases in the settings at run time.
type testrunnerCmd struct{}

// Run prints the module, and on stderr the TEST_RUNNER line that names it
// where stdout writes it.
func (testrunnerCmd) Run(e *env) error {
	if _, err := e.stdout.Write(testrunner.Module()); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "citusgen: %s\n", testRunnerSetting(stdoutFile(e.stdout)))
	return nil
}

// runnerClass is the class settings name, in the module.
const runnerClass = "CitusDiscoverRunner"

// testRunnerSetting says what TEST_RUNNER names the module at path, an
// absolute path ("" when citusgen cannot tell where it goes). Django imports it by its
// dotted path from sys.path, which manage.py starts with its own folder:
// in a django-admin startproject layout the module beside settings.py is
// <project>.citus_testrunner, not citus_testrunner.
func testRunnerSetting(path string) string {
	if path == "" {
		return "set TEST_RUNNER = '<module>." + runnerClass + "' in your Django settings, <module> being the file's dotted path from the folder holding manage.py (citus_testrunner beside manage.py; <project>.citus_testrunner beside settings.py)"
	}
	// Paths in the message as the user would type them.
	show := func(p string) string { return p }
	if cwd, err := os.Getwd(); err == nil {
		show = func(p string) string { return relativeTo(cwd, p) }
	}
	dir := filepath.Dir(path)
	for d := dir; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(filepath.Join(d, "manage.py")); err == nil && fi.Mode().IsRegular() {
			rel, err := filepath.Rel(d, path)
			if err != nil {
				break
			}
			module := strings.TrimSuffix(rel, ".py")
			parts := strings.Split(module, string(filepath.Separator))
			for _, p := range parts {
				if !pythonIdentifier(p) {
					return fmt.Sprintf("%s is no importable module: %q in its path from %s is not a Python identifier; write the runner under a name and folders that are (for example citus_testrunner.py beside settings.py)", show(path), p, show(filepath.Join(d, "manage.py")))
				}
			}
			return fmt.Sprintf("in your Django settings: TEST_RUNNER = '%s.%s' (the module's dotted path from the folder of %s)", strings.Join(parts, "."), runnerClass, show(filepath.Join(d, "manage.py")))
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	module := strings.TrimSuffix(filepath.Base(path), ".py")
	return fmt.Sprintf("in your Django settings: TEST_RUNNER = '%s.%s' if %s is on Python's path (no manage.py in %s or a folder above it, whose folder would start the module's dotted path)", module, runnerClass, show(dir), show(dir))
}

// pythonIdentifier says whether s can be a Python module name (ASCII is
// enough for the names projects give).
func pythonIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r < unicode.MaxASCII && unicode.IsLetter(r) || i > 0 && r < unicode.MaxASCII && unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}
