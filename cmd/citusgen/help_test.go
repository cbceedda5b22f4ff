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
// The subcommands of render get no suggestion (render's default
// subcommand takes what follows it, and kong reports the word there), so
// every such error says where the usage is.
func TestUnknownCommandSuggestion(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"rendr", `unexpected argument rendr, did you mean "render"? (citusgen --help lists the commands)`},
		{"verfy --json", `unexpected argument verfy, did you mean "verify"? (citusgen --help lists the commands)`},
		{"ver", `unexpected argument ver, did you mean "verify"? (citusgen --help lists the commands)`},
		{"plna", `unexpected argument plna, did you mean "plan"? (citusgen --help lists the commands)`},
		{"help chek", `help: unexpected argument chek, did you mean "check"? (citusgen --help lists the commands)`},
		{"nope", `unexpected argument nope (citusgen --help lists the commands)`},
		{"help nope", `help: unexpected argument nope (citusgen --help lists the commands)`},
		{"render sqll", `unexpected argument sqll (citusgen help render shows what it takes)`},
		{"render --out build settngs", `unexpected argument settngs (citusgen help render shows what it takes)`},
		{"help render xyzzy", `help: unexpected argument xyzzy (citusgen help render shows what it takes)`},
	} {
		var out, errOut bytes.Buffer
		code := run(strings.Fields(tc.args), nil, &out, &errOut)
		if got := strings.TrimSpace(errOut.String()); code != exitBadInput || got != "citusgen: "+tc.want {
			t.Errorf("citusgen %s: exit %d, stderr %q; want exit 2 and %q", tc.args, code, got, "citusgen: "+tc.want)
		}
	}
}
