package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	_ "github.com/citusgen/citusgen/internal/goldenfile" // -update flag
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"citusgen": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// The scripts under testdata/script describe the CLI's behaviour: output,
// exit statuses and files, including every failure path.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			golden, err := filepath.Abs("../../golden")
			env.Setenv("GOLDEN", golden)
			return err
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				// root ignores file permissions, so write-failure checks skip.
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}
