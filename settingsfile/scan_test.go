package settingsfile

import (
	"context"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// Constructs the scanner has to follow to find statement boundaries as
// Python does.
const tricky = `"""Module docstring with DATABASES = {} and
# a comment-looking line"""
import os
from base import *  # DATABASES may come from here
X = 'it''s' ; Y = "a # not a comment"
Z = r'\'' + b"\"" + rb'\\'
F = f"{os.environ.get('A', 'b')!r:>{10}} {{literal}} {X:{'>'}10}"
G = f'''{
    1 + 2
}''' + f"{'nested' + f'{1}'}"
if os.environ.get('CITUS'):
    DATABASES = {'x': {}}
elif X:
    pass
else:
    CITUS_FLAG = 1
try:
    import citus_extra
except ImportError:  # comment
    citus_extra = None
finally:
    pass
@decorator(
    'arg',
)
def f():
    return """
DATABASES = 'inside a string'
"""
class C:
    DATABASES = {}
L = [
    1,  # ]
    2,
]
M = 1 + \
    2
DATABASES.update({
    'icds-ucr': {'HOST': 'localhost', 'PORT': 5600},
})
REPORTING_DATABASES = {'r': 'icds-ucr'}
REPORTING_DATABASES['s'] = 'icds-ucr'
ICDS_USE_CITUS = True; OTHER = 2
async def g():
    pass
`

func TestScanMatchesPython(t *testing.T) {
	var got [][2]int
	if !scan([]byte(tricky), func(s stmt) { got = append(got, [2]int{s.first, s.last}) }) {
		t.Fatal("the scanner gave up")
	}
	py, err := Interpreter()
	if err != nil {
		t.Fatal(err)
	}
	// Python's statements, a decorated definition from its first decorator.
	out := runPython(t, py, `import ast, sys
for n in ast.parse(sys.stdin.read()).body:
    first = min([n.lineno] + [d.lineno for d in getattr(n, "decorator_list", [])])
    print(first, n.end_lineno)`, tricky)
	var want [][2]int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var a, b int
		fmt.Sscan(l, &a, &b)
		want = append(want, [2]int{a, b})
	}
	// Statements joined by ';' are one logical line to the scanner.
	var merged [][2]int
	for _, w := range want {
		if n := len(merged); n > 0 && merged[n-1][1] >= w[0] {
			merged[n-1][1] = max(merged[n-1][1], w[1])
			continue
		}
		merged = append(merged, w)
	}
	if !reflect.DeepEqual(got, merged) {
		t.Errorf("scanner: %v\npython:  %v", got, merged)
	}
	for _, bad := range []string{"X = '\n", "X = (1,\n", "X = '''\n", "  X = 1\n", "X = f'{'\n"} {
		if scan([]byte(bad), func(stmt) {}) {
			t.Errorf("followed %q", bad)
		}
	}
}

// A large file is analysed from its relevant statements only, with the
// same result as python3 parsing it whole.
func TestAnalyzeLargeMatchesWhole(t *testing.T) {
	var b strings.Builder
	b.WriteString(tricky)
	for i := 0; b.Len() <= SmallFile; i++ {
		fmt.Fprintf(&b, "SETTING_%d = %q  # padding\n# comment %d\n", i, strings.Repeat("v", 40), i)
	}
	b.WriteString(tricky)
	data := []byte(b.String())
	ctx := context.Background()
	large, ok, err := analyzeLarge(ctx, "big.py", data, []string{"OTHER"})
	if err != nil || !ok {
		t.Fatalf("large path: %v %v", ok, err)
	}
	var whole File
	if err := request(ctx, "analyze", "big.py", data, &whole); err != nil {
		t.Fatal(err)
	}
	if whole.SyntaxError != "" {
		t.Fatal(whole.SyntaxError)
	}
	if !reflect.DeepEqual(large.Databases, whole.Databases) || !reflect.DeepEqual(large.Reporting, whole.Reporting) {
		t.Errorf("entries differ:\n%+v\n%+v", large.Databases, whole.Databases)
	}
	for _, n := range []string{"DATABASES", "REPORTING_DATABASES"} {
		if !reflect.DeepEqual(large.Bindings[n], whole.Bindings[n]) || len(whole.Bindings[n]) == 0 {
			t.Errorf("bindings of %s: %v, whole %v", n, large.Bindings[n], whole.Bindings[n])
		}
		if !reflect.DeepEqual(large.Defined[n], whole.Defined[n]) || len(whole.Defined[n]) == 0 {
			t.Errorf("%s defined: %v, whole %v", n, large.Defined[n], whole.Defined[n])
		}
	}
	pick := func(f *File) []Assign {
		var out []Assign
		for _, a := range f.Assigns {
			if strings.Contains(a.Name, "CITUS") || a.Name == "OTHER" {
				out = append(out, a)
			}
		}
		return out
	}
	if !reflect.DeepEqual(pick(large), pick(&whole)) {
		t.Errorf("assignments:\n%+v\nwhole:\n%+v", pick(large), pick(&whole))
	}
	if !reflect.DeepEqual(large.Multiline, whole.Multiline) {
		t.Errorf("multi-line statements:\n%v\nwhole:\n%v", large.Multiline, whole.Multiline)
	}
}

func runPython(t *testing.T, py, script, stdin string) string {
	t.Helper()
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	return string(out)
}
