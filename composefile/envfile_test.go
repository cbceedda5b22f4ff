package composefile_test

import (
	"strings"
	"testing"

	"github.com/citusgen/citusgen/composefile"
)

// SetEnvValue rewrites the line compose reads the variable from and
// nothing else, with any value compose can hold, read back by compose-go's
// own parser; what it cannot write so is refused, and no error holds a
// value.
func TestSetEnvValue(t *testing.T) {
	values := []string{"plain", `it's`, `a "b" $HOME \ #c`, `ends in \`, `'quoted'`, "tab\there", "new\nline"}
	files := []struct{ before, want string }{
		{"PW=old\n", "PW=%s\n"},
		{"# c\r\nA=1\r\nexport PW = old\r\nB='x y'\r\n", "# c\r\nA=1\r\nexport PW = %s\r\nB='x y'\r\n"},
		{"PW: old\nPW=older\nC=3\n", "PW: old\nPW=%s\nC=3\n"}, // the last one wins in compose
		{"PW='old'", "PW=%s"},
	}
	for _, f := range files {
		for _, v := range values {
			got, err := composefile.SetEnvValue([]byte(f.before), "PW", v)
			if err != nil {
				t.Errorf("%q with %q: %v", f.before, v, err)
				continue
			}
			if read, _, _ := composefile.EnvValue(got, "PW"); read != v {
				t.Errorf("%q with %q: reads back %q:\n%s", f.before, v, read, got)
			}
			prefix, suffix, _ := strings.Cut(f.want, "%s")
			if !strings.HasPrefix(string(got), prefix) || !strings.HasSuffix(string(got), suffix) {
				t.Errorf("%q with %q: other bytes changed:\n%q", f.before, v, got)
			}
		}
	}
	for _, bad := range []struct{ file, msg string }{
		{"A=1\n", "it does not set PW"},
		{"PW='secret-one\nsecret-two'\n", "citusgen cannot write PW there so that docker compose reads it back unchanged"},
		{"PW='secret-unterminated\n", "line 2: unterminated quoted value (docker compose cannot read it)"},
	} {
		_, err := composefile.SetEnvValue([]byte(bad.file), "PW", "new-secret")
		if err == nil || !strings.HasPrefix(err.Error(), bad.msg) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: %v, want %q", bad.file, err, bad.msg)
		}
	}
}
