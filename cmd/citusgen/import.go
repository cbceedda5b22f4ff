package main

import (
	"fmt"

	"github.com/citusgen/citusgen/specimport"
)

type importCmd struct {
	Compose  string `required:"" placeholder:"FILE" predictor:"file" help:"The compose file with the hand-written Citus services."`
	Settings string `placeholder:"FILE" predictor:"file" help:"The Django settings file (localsettings.py) with the cluster's aliases."`
}

func (c importCmd) Run(e *env) error {
	in := specimport.Files{ComposePath: c.Compose, SettingsPath: c.Settings}
	var err error
	if in.Compose, err = readInput(c.Compose); err != nil {
		return err
	}
	if c.Settings != "" {
		if in.Settings, err = readInput(c.Settings); err != nil {
			return err
		}
	}
	res, err := specimport.Import(e.ctx, in)
	if err != nil {
		return badInput{err}
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(e.stderr, "citusgen: warning: %s\n", w)
	}
	_, err = e.stdout.Write(res.Spec)
	return err
}
