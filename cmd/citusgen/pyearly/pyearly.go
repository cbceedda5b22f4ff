// Package pyearly starts the python3 process that reads settings files
// before the heavy package initialisers run, when the command line asks for
// one (check --settings, render settings --into): python3's start-up, most
// of what such a run costs, then overlaps citusgen's own. Go initialises
// packages in import-path order once their imports are ready, so this small
// package, imported by main, runs before compose-go's and jsonschema's.
// A guess wrong either way costs nothing: an idle process ends with
// citusgen, and a missing one is started on first use.
package pyearly

import (
	"os"
	"strings"

	"github.com/citusgen/citusgen/settingsfile"
)

func init() {
	if needsPython(os.Args[1:]) {
		settingsfile.Prestart()
	}
}

func needsPython(args []string) bool {
	var check, settings, into bool
	for _, a := range args {
		switch {
		case a == "check":
			check = true
		case a == "settings":
			settings = true
		case a == "--into" || strings.HasPrefix(a, "--into="):
			into = true
		case a == "--settings" || strings.HasPrefix(a, "--settings="):
			if check {
				return true
			}
		}
	}
	return settings && into
}
