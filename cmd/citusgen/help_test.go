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

// TestUnknownCommandSuggestion: a mistyped command is kong's parse error,
// with kong's own suggestion where one is close, and bad input (exit 2).
// The subcommands of render get no suggestion: render's default
// subcommand takes what follows it, and kong reports the word there.
func TestUnknownCommandSuggestion(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"rendr", `unexpected argument rendr, did you mean "render"?`},
		{"verfy --json", `unexpected argument verfy, did you mean "verify"?`},
		{"ver", `unexpected argument ver, did you mean "verify"?`},
		{"plna", `unexpected argument plna, did you mean "plan"?`},
		{"help chek", `help: unexpected argument chek, did you mean "check"?`},
		{"nope", `unexpected argument nope`},
		{"help nope", `help: unexpected argument nope`},
		{"render sqll", `unexpected argument sqll`},
		{"render --out build settngs", `unexpected argument settngs`},
		{"help render xyzzy", `help: unexpected argument xyzzy`},
	} {
		var out, errOut bytes.Buffer
		code := run(strings.Fields(tc.args), nil, &out, &errOut)
		if got := strings.TrimSpace(errOut.String()); code != exitBadInput || got != "citusgen: "+tc.want {
			t.Errorf("citusgen %s: exit %d, stderr %q; want exit 2 and %q", tc.args, code, got, "citusgen: "+tc.want)
		}
	}
}
