package main

import "github.com/citusgen/citusgen/topology"

type schemaCmd struct{}

func (schemaCmd) Run(e *env) error {
	_, err := e.stdout.Write(topology.Schema())
	return err
}
