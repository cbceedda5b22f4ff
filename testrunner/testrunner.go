// Package testrunner holds citus_testrunner.py, the Django test runner mixin
// that `citusgen testrunner` prints. Django's own runner cannot tear down the
// dev profile's test databases on Citus: it drops the workers' first, while
// Citus's maintenance daemons on the other nodes (and Django's coordinator
// session) hold connections in them. The module drops the coordinator's
// first and every one WITH (FORCE). The tests in this package run Django's
// own test runner with it against live Citus clusters.
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
