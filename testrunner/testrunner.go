// Package testrunner holds citus_testrunner.py, the Django test runner mixin
// that `citusgen testrunner` prints.
package testrunner

import (
	"bytes"
	_ "embed"
)

// FileName is the module name the README and the settings refer to.
const FileName = "citus_testrunner.py"

//go:embed citus_testrunner.py
var module []byte

// Module returns the Python source of citus_testrunner.py.
func Module() []byte { return bytes.Clone(module) }
