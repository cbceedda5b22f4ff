// Package testrunner holds citus_testrunner.py, the Django test runner mixin
// that `citusgen testrunner` prints. Django creates plain test databases, and
// cannot tear the cluster's down: it drops the workers' first, while Citus's
// maintenance daemons on the other nodes (and Django's coordinator session)
// hold connections in them. The module makes each node's test database part
// of a working Citus cluster as Django creates it (the extension, the live
// cluster's inter-node credentials, the workers registered at their
// CITUS_NODE_NAME), sets up every node of a cluster a test names any alias
// of, and drops the coordinator's first and every one WITH (FORCE). The
// tests in this package run Django's own test runner with it against live
// Citus clusters: a CommCare-HQ-shaped fixture and a project from
// `django-admin startproject`.
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
