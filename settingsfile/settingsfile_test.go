package settingsfile_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/citusgen/citusgen/settingsfile"
)

const sample = `import os
from base import *
DATABASES = {
    'default': {'NAME': 'app'},
    'reports': {
        'NAME': 'r',
        'PASSWORD': os.environ.get('PW', ''),
    },
}
if os.environ.get('X'):
    DATABASES.update({'x': {}})
REPORTING_DATABASES = {'a': 'default', 'b': 'reports'}
REPORTING_DATABASES['c'] = 'reports'
USE_CITUS = True
`

func TestAnalyze(t *testing.T) {
	f, err := settingsfile.Analyze(context.Background(), "s.py", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	wantBindings := []settingsfile.Binding{
		{Stmt: settingsfile.Range{Start: 2, End: 2}, Line: 2, How: "from base import *", Kind: settingsfile.MayBind},
		{Stmt: settingsfile.Range{Start: 3, End: 9}, Line: 3, How: "DATABASES = ...", Kind: settingsfile.Binds},
	}
	if !reflect.DeepEqual(f.Bindings["DATABASES"], wantBindings) {
		t.Errorf("DATABASES bound at %+v", f.Bindings["DATABASES"])
	}
	if d, ok := f.DefinedBefore("DATABASES", 10); !ok || !d.Defined || d.Stmt != (settingsfile.Range{Start: 3, End: 9}) {
		t.Errorf("DATABASES defined before line 10: %+v %v", d, ok)
	}
	byKey := map[string]settingsfile.Entry{}
	for _, e := range append(f.Databases, f.Reporting...) {
		byKey[e.Key] = e
	}
	r := byKey["reports"]
	if r.Via != "assign" || r.Lines != (settingsfile.Range{Start: 5, End: 8}) || r.Shared || r.Nested {
		t.Errorf("reports: %+v", r)
	}
	if r.Fields["PASSWORD"].Env != "PW" || r.Fields["NAME"].Value != "r" {
		t.Errorf("reports fields: %+v", r.Fields)
	}
	if x := byKey["x"]; !x.Nested || x.Via != "update" {
		t.Errorf("x: %+v", x)
	}
	if a := byKey["a"]; !a.Shared {
		t.Errorf("a shares its line with the braces: %+v", a)
	}
	if c := byKey["c"]; c.Via != "subscript" || c.Value.Value != "reports" {
		t.Errorf("c: %+v", c)
	}
	found := false
	for _, a := range f.Assigns {
		if a.Name == "USE_CITUS" && a.Value.Value == true && a.Stmt.Start == 14 {
			found = true
		}
	}
	if !found {
		t.Errorf("USE_CITUS not found: %+v", f.Assigns)
	}
	bad, err := settingsfile.Analyze(context.Background(), "s.py", []byte("DATABASES = {\n"))
	if err != nil || bad.SyntaxError == "" {
		t.Errorf("syntax error not reported: %+v %v", bad, err)
	}
}

// Close ends python3; a request after it starts a new process.
func TestCloseThenRequest(t *testing.T) {
	ctx := context.Background()
	src := []byte("DATABASES = {}\n")
	settingsfile.Close()
	before := settingsfile.StartCount()
	if _, err := settingsfile.Analyze(ctx, "a.py", src); err != nil {
		t.Fatal(err)
	}
	settingsfile.Close()
	settingsfile.Close() // twice is harmless
	f, err := settingsfile.Analyze(ctx, "b.py", src)
	if err != nil {
		t.Fatalf("request after Close: %v", err)
	}
	if len(f.Bindings["DATABASES"]) != 1 {
		t.Errorf("request after Close: DATABASES not found")
	}
	if n := settingsfile.StartCount() - before; n != 2 {
		t.Errorf("%d python3 processes started, want 2 (one after Close)", n)
	}
	settingsfile.Close()
}

// Python accepts expressions nested far deeper than a recursive walk of
// them could follow; the reader follows them all the same.
func TestAnalyzeDeepExpression(t *testing.T) {
	src := "DATABASES = {'default': {'PORT': " + strings.Repeat("1 + ", 2000) + "1}}\n"
	f, err := settingsfile.Analyze(context.Background(), "deep.py", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if f.SyntaxError != "" {
		t.Skipf("this python3 refuses the expression itself (%s); Python 3.11 accepts it", f.SyntaxError)
	}
	if len(f.Bindings["DATABASES"]) != 1 {
		t.Errorf("DATABASES bound at %+v", f.Bindings["DATABASES"])
	}
}
