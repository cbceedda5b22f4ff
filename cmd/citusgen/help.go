package main

import (
	"fmt"
	"os"
	"path/filepath"
)

type helpCmd struct {
	Command []string `arg:"" optional:"" help:"The command, as you would type it (render sql)."`
}

// Run prints the usage of the named command the way --help does.
func (c helpCmd) Run(e *env) error {
	_, err := e.parser.Parse(append(append([]string{}, c.Command...), "--help"))
	if err != nil {
		return usageError{fmt.Sprintf("help: %v", err)}
	}
	return nil
}

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

// completionScripts register citusgen as its own completer: the shell runs
// it with COMP_LINE set and kongplete answers from the command model.
var completionScripts = map[string]string{
	"bash": "complete -C %[1]q %[2]s\n",
	"zsh":  "autoload -U +X bashcompinit && bashcompinit\ncomplete -C %[1]q %[2]s\n",
	"fish": "function __complete_%[2]s\n    set -lx COMP_LINE (commandline -cp)\n    test -z (commandline -ct)\n    and set COMP_LINE \"$COMP_LINE \"\n    %[1]q\nend\ncomplete -f -c %[2]s -a \"(__complete_%[2]s)\"\n",
}

func (c completionCmd) Run(e *env) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find citusgen's own path: %w", err)
	}
	if abs, err := filepath.Abs(bin); err == nil {
		bin = abs
	}
	_, err = fmt.Fprintf(e.stdout, completionScripts[c.Shell], bin, "citusgen")
	return err
}
