package main

import "github.com/citusgen/citusgen/testrunner"

// testrunnerCmd prints the Django test runner module; it reads no spec, since
// the module finds the cluster's aliases in the settings at run time.
type testrunnerCmd struct{}

func (testrunnerCmd) Run(e *env) error {
	_, err := e.stdout.Write(testrunner.Module())
	return err
}
