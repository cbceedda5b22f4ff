// Package testrunner holds citus_testrunner.py, the Django test runner mixin
// that `citusgen testrunner` prints: every node's test database made part of a
// working Citus cluster, whole clusters for any alias a test names, and the
// teardown Django cannot do (coordinator first, WITH (FORCE)).
package testrunner

import (
	"bytes"
	_ "embed"
)

// FileName is the module name the docs (docs/django.md) and the settings refer to.
const FileName = "citus_testrunner.py"

//go:embed citus_testrunner.py
var module []byte

// Module returns the Python source of citus_testrunner.py.
func Module() []byte { return bytes.Clone(module) }
