package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/citusgen/citusgen/internal/levenshtein"
)

type helpCmd struct {
	Command []string `arg:"" optional:"" predictor:"command" help:"The command, as you would type it (render sql)."`
}

// Run prints the usage of the named command the way --help does.
func (c helpCmd) Run(e *env) error {
	if err := unknownCommand(e.parser.Model, c.Command); err != nil {
		return err
	}
	_, err := e.parser.Parse(append(append([]string{}, c.Command...), "--help"))
	if err != nil {
		return badInputf("help: %w", err)
	}
	return nil
}

// printHelp is kong's help with one addition: a command whose subcommands
// have flags of their own (render) lists those flags too, each group under
// the command line that takes them, so `citusgen help render` shows
// `render --into FILE` although --into belongs to the default subcommand.
func printHelp(options kong.HelpOptions, ctx *kong.Context) error {
	node := ctx.Selected()
	if node == nil || len(node.Children) == 0 {
		return kong.DefaultHelpPrinter(options, ctx)
	}
	own := node.Flags
	defer func() { node.Flags = own }()
	flags := append([]*kong.Flag(nil), own...)
	for _, child := range node.Children {
		if child.Hidden {
			continue
		}
		title := "citusgen " + child.Path() + ":"
		if child == node.DefaultCmd {
			title = fmt.Sprintf("citusgen %s, the same as citusgen %s:", node.Path(), child.Path())
		}
		group := &kong.Group{Key: "citusgen-sub-" + child.Name, Title: title}
		for _, f := range child.Flags {
			if f.Hidden {
				continue
			}
			shown := *f
			shown.Group = group
			flags = append(flags, &shown)
		}
	}
	node.Flags = flags
	if node.DefaultCmd == nil {
		return kong.DefaultHelpPrinter(options, ctx)
	}
	// The subcommand is optional: say so in the usage line.
	out := ctx.Stdout
	var buf bytes.Buffer
	ctx.Stdout = &buf
	err := kong.DefaultHelpPrinter(options, ctx)
	ctx.Stdout = out
	if err != nil {
		return err
	}
	text := strings.Replace(buf.String(), " "+node.Path()+" <command> ", " "+node.Path()+" [<command>] ", 1)
	_, err = io.WriteString(out, text)
	return err
}

// unknownCommand refuses a command word the model does not have, naming
// the closest one, before kong reads it as a stray argument.
func unknownCommand(app *kong.Application, args []string) error {
	node := app.Node
	var path []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil
		}
		if strings.HasPrefix(a, "-") {
			if f := flagNamed(node, a); f != nil && !f.IsBool() && !strings.Contains(a, "=") {
				i++ // its value
			}
			continue
		}
		if len(node.Children) == 0 {
			return nil // a positional argument
		}
		next := childNamed(node, a)
		if next == nil {
			if node.DefaultCmd != nil && len(node.DefaultCmd.Positional) > 0 {
				return nil // the default subcommand takes it
			}
			return badInput{errors.New(unknownCommandMessage(node, path, a))}
		}
		node = next
		path = append(path, a)
	}
	return nil
}

func childNamed(node *kong.Node, name string) *kong.Node {
	for _, c := range node.Children {
		if c.Hidden {
			continue
		}
		if c.Name == name {
			return c
		}
		for _, alias := range c.Aliases {
			if alias == name {
				return c
			}
		}
	}
	return nil
}

// flagNamed finds a flag written as -x, --name or --name=value on node, its
// default subcommand or the commands above it.
func flagNamed(node *kong.Node, arg string) *kong.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	long := strings.HasPrefix(arg, "--")
	match := func(flags []*kong.Flag) *kong.Flag {
		for _, f := range flags {
			if long && f.Name == name || !long && len(name) == 1 && f.Short == rune(name[0]) {
				return f
			}
		}
		return nil
	}
	for n := node; n != nil; n = n.Parent {
		if f := match(n.Flags); f != nil {
			return f
		}
		if n.DefaultCmd != nil {
			if f := match(n.DefaultCmd.Flags); f != nil {
				return f // citusgen render --into FILE
			}
		}
	}
	return nil
}

// unknownCommandMessage names the closest command: the one with the fewest
// edits, a command the word starts (ver: verify) winning ties.
func unknownCommandMessage(node *kong.Node, path []string, word string) string {
	where := strings.Join(append([]string{"citusgen"}, path...), " ")
	lower := strings.ToLower(word)
	var names []string
	best, bestDist, bestPrefix := "", 1<<30, false
	for _, c := range node.Children {
		if c.Hidden {
			continue
		}
		names = append(names, c.Name)
		d, prefix := levenshtein.Distance(lower, c.Name), strings.HasPrefix(c.Name, lower)
		if d < bestDist || d == bestDist && prefix && !bestPrefix {
			best, bestDist, bestPrefix = c.Name, d, prefix
		}
	}
	inner := func(w string) string { return strings.TrimPrefix(where+" "+w, "citusgen ") }
	if !bestPrefix && bestDist > max(2, len(word)/3) {
		// Nothing close: a guess would mislead; list them instead.
		return fmt.Sprintf("unknown command %q; the commands of %s are %s (%s --help says what each does)", inner(word), where, strings.Join(names, ", "), where)
	}
	return fmt.Sprintf("unknown command %q; did you mean %q?", inner(word), inner(best))
}
