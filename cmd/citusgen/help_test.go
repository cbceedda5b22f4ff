package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// TestHelpShowsEveryFlag: the help of a command lists every flag that works
// below it, so `citusgen help render` shows --out, --into and --adopt, which
// belong to its subcommands.
func TestHelpShowsEveryFlag(t *testing.T) {
	var c cli
	parser, err := newParser(&c, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var visit func(n *kong.Node)
	checked := 0
	visit = func(n *kong.Node) {
		for _, child := range n.Children {
			visit(child)
		}
		if n.Type != kong.CommandNode {
			return
		}
		path := strings.Fields(n.Path())
		var out, errOut bytes.Buffer
		if code := run(append([]string{"help"}, path...), nil, &out, &errOut); code != 0 {
			t.Fatalf("help %s: exit %d: %s", n.Path(), code, errOut.String())
		}
		var want []*kong.Flag
		for _, flags := range n.AllFlags(true) {
			want = append(want, flags...)
		}
		for _, child := range n.Children {
			want = append(want, child.Flags...)
		}
		for _, f := range want {
			if f.Hidden {
				continue
			}
			checked++
			if !strings.Contains(out.String(), "--"+f.Name) {
				t.Errorf("citusgen help %s does not show --%s:\n%s", n.Path(), f.Name, out.String())
			}
		}
	}
	visit(parser.Model.Node)
	if checked < 30 {
		t.Fatalf("checked only %d flags; is the model empty?", checked)
	}
}

func TestUnknownCommandSuggestion(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"rendr", `unknown command "rendr"; did you mean "render"?`},
		{"verfy --json", `unknown command "verfy"; did you mean "verify"?`},
		{"ver", `unknown command "ver"; did you mean "verify"?`},
		{"plna", `unknown command "plna"; did you mean "plan"?`},
		{"render sqll", `unknown command "render sqll"; did you mean "render sql"?`},
		{"render --out build settngs", `unknown command "render settngs"; did you mean "render settings"?`},
		{"help chek", `unknown command "chek"; did you mean "check"?`},
		// Nothing close: no guess, the list.
		{"nope", `unknown command "nope"; the commands of citusgen are render, bootstrap, verify, plan, check, import, upgrade, reset, init, schema, testrunner, completion, help (citusgen --help says what each does)`},
		{"render xyzzy", `unknown command "render xyzzy"; the commands of citusgen render are compose, settings, sql (citusgen render --help says what each does)`},
	} {
		var out, errOut bytes.Buffer
		code := run(strings.Fields(tc.args), nil, &out, &errOut)
		if got := strings.TrimSpace(errOut.String()); code != exitBadInput || got != "citusgen: "+tc.want {
			t.Errorf("citusgen %s: exit %d, stderr %q; want exit 2 and %q", tc.args, code, got, "citusgen: "+tc.want)
		}
	}
}
