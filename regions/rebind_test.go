package regions_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/citusgen/citusgen/regions"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/topology"
)

// otherSettings is a module settings files import from, beside them.
const otherSettings = "DATABASES = {'default': {'NAME': 'hq'}}\nREPORTING_DATABASES = {'default': 'default'}\n"

// clusterAliases are the default topology's aliases, which the block adds.
var clusterAliases = []string{"citus-ucr-worker1", "citus-ucr-worker2", "icds-ucr"}

// importedSettings is what Django sees of a settings file.
type importedSettings struct {
	Databases []string       `json:"databases"` // DATABASES' aliases, sorted
	Reporting map[string]any `json:"reporting"`
}

// importSettings imports data as the module localsettings, as Django does
// (nothing bound beforehand), with other_settings.py beside it, in an
// environment with env added; it fails the test when Python does.
func importSettings(t *testing.T, data []byte, env ...string) importedSettings {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"localsettings.py": string(data), "other_settings.py": otherSettings} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got importedSettings
	pythonJSON(t, data, env, &got, `import json, sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import localsettings as s
json.dump({"databases": sorted(s.DATABASES), "reporting": s.REPORTING_DATABASES}, sys.stdout)`, dir)
	return got
}

// skipWithoutMatch skips a case written with a match statement where
// python3 predates it (3.10).
func skipWithoutMatch(t *testing.T, file string) {
	t.Helper()
	if !strings.Contains(file, "match ") {
		return
	}
	py, err := settingsfile.Interpreter()
	if err != nil {
		t.Fatal(err)
	}
	if exec.Command(py, "-c", "compile('match 1:\\n    case _: pass\\n', 'm', 'exec')").Run() != nil {
		t.Skipf("%s has no match statement (Python 3.10 and later have)", py)
	}
}

// hasCluster: Django sees the cluster's aliases and reporting entry, and
// the file's own alias.
func hasCluster(t *testing.T, got importedSettings, data []byte) {
	t.Helper()
	want := append([]string{}, clusterAliases...)
	want = append(want, "default")
	for _, a := range want {
		if !strings.Contains(strings.Join(got.Databases, " ")+" ", a+" ") {
			t.Errorf("DATABASES has %v, not %s:\n%s", got.Databases, a, data)
		}
	}
	if got.Reporting["icds-ucr-citus"] != "icds-ucr" {
		t.Errorf("REPORTING_DATABASES is %v:\n%s", got.Reporting, data)
	}
}

func mergeSettingsFile(t *testing.T, data []byte) (*regions.Merge, error) {
	t.Helper()
	return regions.MergeSettingsFile(context.Background(), data, topology.Default(), regions.MergeOptions{Name: "localsettings.py"})
}

// A file that rebinds DATABASES (or REPORTING_DATABASES) after the
// citusgen block, in any of the ways Python binds a name, would lose the
// cluster's aliases when Django imports it: the block goes below the
// rebinding, and check reports the file as drift, naming the line.
func TestSettingsBlockFollowsEveryRebinding(t *testing.T) {
	first, err := mergeSettingsFile(t, []byte("SECRET_KEY = 'k'\nDATABASES = {'default': {}}\nREPORTING_DATABASES = {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	blockEnd := strings.Count(string(first.Data), "\n") // the file's lines up to the block's end
	for _, c := range []struct {
		name, after string
		line        int // of the rebinding, counted from the first line after the block
		how         string
	}{
		{"if", "import os\nif not os.environ.get('NO_SUCH_VARIABLE'):\n    DATABASES = {'default': {}}\n", 3, "DATABASES = ... (in the if statement at lines @2-@3)"},
		{"if/else", "import os\nif os.environ.get('NO_SUCH_VARIABLE'):\n    pass\nelse:\n    DATABASES = {'default': {}}\n", 5, "DATABASES = ... (in the if statement at lines @2-@5)"},
		{"try", "try:\n    DATABASES = {'default': {}}\nexcept ImportError:\n    pass\n", 2, "DATABASES = ... (in the try statement at lines @1-@4)"},
		{"finally", "try:\n    pass\nfinally:\n    DATABASES = {'default': {}}\n", 4, "DATABASES = ... (in the try statement at lines @1-@4)"},
		{"for", "for _ in [1]:\n    DATABASES = {'default': {}}\n", 2, "DATABASES = ... (in the for loop at lines @1-@2)"},
		{"for target", "for DATABASES in [{'default': {}}]:\n    pass\n", 1, "for DATABASES in ... (in the for loop at lines @1-@2)"},
		{"while", "n = 0\nwhile n < 1:\n    n += 1\n    DATABASES = {'default': {}}\n", 4, "DATABASES = ... (in the while loop at lines @2-@4)"},
		{"with", "import contextlib\nwith contextlib.nullcontext():\n    DATABASES = {'default': {}}\n", 3, "DATABASES = ... (in the with statement at lines @2-@3)"},
		{"with as", "import contextlib\nwith contextlib.nullcontext({'default': {}}) as DATABASES:\n    pass\n", 2, "with ... as DATABASES (in the with statement at lines @2-@3)"},
		{"match", "match 1:\n    case 1:\n        DATABASES = {'default': {}}\n", 3, "DATABASES = ... (in the match statement at lines @1-@3)"},
		{"match capture", "match {'default': {}}:\n    case {'default': _} as DATABASES:\n        pass\n", 2, "a case pattern capturing DATABASES (in the match statement at lines @1-@3)"},
		{"walrus", "(DATABASES := {'default': {}})\n", 1, "DATABASES := ..."},
		{"walrus in a condition", "if (DATABASES := {'default': {}}):\n    pass\n", 1, "DATABASES := ... (in the if statement at lines @1-@2)"},
		{"walrus in a comprehension", "[(DATABASES := {'default': {}}) for _ in [1]]\n", 1, "DATABASES := ..."},
		{"globals()", "globals()['DATABASES'] = {'default': {}}\n", 1, "globals()['DATABASES'] = ..."},
		{"globals().update", "globals().update(DATABASES={'default': {}})\n", 1, "globals().update(...)"},
		{"from x import it", "from other_settings import DATABASES\n", 1, "from other_settings import DATABASES"},
		{"from x import *", "from other_settings import *\n", 1, "from other_settings import * (which may bind it)"},
		{"exec", "exec(\"DATABASES = {'default': {}}\")\n", 1, "exec(...) (which may bind it)"},
		{"nested", "for _ in [1]:\n    if True:\n        try:\n            DATABASES = {'default': {}}\n        except Exception:\n            raise\n", 4, "DATABASES = ... (in the for loop at lines @1-@6)"},
		{"REPORTING_DATABASES in an if", "if True:\n    REPORTING_DATABASES = {}\n", 2, "REPORTING_DATABASES = ... (in the if statement at lines @1-@2)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			skipWithoutMatch(t, c.after)
			file := append(append([]byte{}, first.Data...), c.after...)
			name := "DATABASES"
			if strings.HasPrefix(c.how, "REPORTING") {
				name = "REPORTING_DATABASES"
			}
			m, err := mergeSettingsFile(t, file)
			if err != nil {
				t.Fatal(err)
			}
			hasCluster(t, importSettings(t, m.Data), m.Data)
			if again, err := mergeSettingsFile(t, m.Data); err != nil || string(again.Data) != string(m.Data) {
				t.Errorf("not idempotent: %v\n%s", err, again.Data)
			}
			line := blockEnd + c.line
			drift, changed := m.Drift("localsettings.py", "render settings --into", file)
			want := []regions.Drift{{File: "localsettings.py", Lines: settingsfile.Range{Start: line, End: line},
				Msg: "localsettings.py:" + strconv.Itoa(line) + ": " + name + " is rebound after the citusgen block (" + atLines(c.how, blockEnd) + "), which drops the cluster's aliases when Django imports the file; citusgen render settings --into localsettings.py moves the block below it"}}
			if !changed || !reflect.DeepEqual(drift, want) {
				t.Errorf("check: changed %v, drift:\n%+v\nwant:\n%+v", changed, drift, want)
			}
		})
	}
}

// atLines writes @N in s as the line N lines after the block's end.
func atLines(s string, blockEnd int) string {
	return regexp.MustCompile(`@[0-9]+`).ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.Atoi(m[1:])
		return strconv.Itoa(blockEnd + n)
	})
}

// Rebindings the block cannot be put after, or that leave it nothing to
// update, are refused at their line, saying what to do.
func TestSettingsRebindingsRefused(t *testing.T) {
	const head = "DATABASES = {'default': {}}\nREPORTING_DATABASES = {}\n"
	for _, c := range []struct{ name, file, want string }{
		{"a function that rebinds it", head + "def reset():\n    global DATABASES\n    DATABASES = {}\n",
			`line 5: reset() rebinds DATABASES (global DATABASES), whenever it is called, after the citusgen block too, and then Django loses the cluster's aliases; have it return the dict and bind DATABASES at module level (DATABASES = reset()), then run again`},
		{"a method that rebinds it", head + "class Env:\n    def load(self):\n        global REPORTING_DATABASES\n        REPORTING_DATABASES = {}\n",
			`line 6: load() rebinds REPORTING_DATABASES (global REPORTING_DATABASES), whenever it is called, after the citusgen block too, and then Django loses the cluster's aliases; have it return the dict and bind REPORTING_DATABASES at module level (REPORTING_DATABASES = load()), then run again`},
		{"a module", head + "import other_settings as DATABASES\n",
			`line 3: import other_settings as DATABASES binds DATABASES to a module, which the citusgen block cannot update (DATABASES.update(...) would raise AttributeError); bind it to a dict instead, then run again`},
		{"deleted", head + "del DATABASES\n",
			`line 3: DATABASES is unbound after del DATABASES at line 3, the last statement that binds or unbinds it before the citusgen block, whose DATABASES.update(...) would raise NameError; bind it after line 3, or remove the del, then run again`},
		{"except as", head + "try:\n    pass\nexcept Exception as DATABASES:\n    pass\n",
			`line 3: DATABASES is not bound on every path through the try statement at lines 3-6, the last statement that binds or unbinds it before the citusgen block, whose DATABASES.update(...) would raise NameError on the others; bind it on every path (or add "DATABASES = {}" above line 3), then run again`},
	} {
		t.Run(c.name, func(t *testing.T) {
			skipWithoutMatch(t, c.file)
			_, err := mergeSettingsFile(t, []byte(c.file))
			if err == nil || err.Error() != c.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, c.want)
			}
		})
	}
}

// A file that binds DATABASES on every path, in the branches of an if, a
// try, a match, defines it: the block goes after that statement, and
// Django sees the cluster on every path. One with a path that never binds
// it is refused at the statement's line.
func TestSettingsDefinedOnEveryPath(t *testing.T) {
	const reporting = "REPORTING_DATABASES = {}\n"
	for _, c := range []struct {
		name, file string
		envs       [][]string // each is one run of Python over the merged file
	}{
		{"if/else", "import os\nif os.environ.get('PROD'):\n    DATABASES = {'default': {'NAME': 'prod'}}\nelse:\n    DATABASES = {'default': {'NAME': 'dev'}}\n" + reporting,
			[][]string{{"PROD=1"}, {}}},
		{"if/elif/else", "import os\nif os.environ.get('A'):\n    DATABASES = {'default': {}}\nelif os.environ.get('B'):\n    from other_settings import DATABASES\nelse:\n    DATABASES = dict(default={})\n" + reporting,
			[][]string{{"A=1"}, {"B=1"}, {}}},
		{"try/except", "try:\n    from prod_settings import DATABASES\nexcept ImportError:\n    DATABASES = {'default': {}}\n" + reporting, [][]string{{}}},
		{"try/except raising", "try:\n    from other_settings import DATABASES\nexcept ImportError:\n    raise\n" + reporting, [][]string{{}}},
		{"else exits", "import os, sys\nif not os.environ.get('NO_SUCH_VARIABLE'):\n    DATABASES = {'default': {}}\nelse:\n    sys.exit('set up DATABASES first')\n" + reporting, [][]string{{}}},
		{"try/else", "try:\n    import json\nexcept ImportError:\n    DATABASES = {'default': {}}\nelse:\n    DATABASES = {'default': {}}\n" + reporting, [][]string{{}}},
		{"with", "import contextlib\nwith contextlib.nullcontext():\n    DATABASES = {'default': {}}\n" + reporting, [][]string{{}}},
		{"match with a wildcard", "import os\nmatch os.environ.get('STAGE'):\n    case 'prod':\n        DATABASES = {'default': {'NAME': 'prod'}}\n    case _:\n        DATABASES = {'default': {}}\n" + reporting,
			[][]string{{"STAGE=prod"}, {}}},
		{"walrus", "if (DATABASES := {'default': {}}):\n    pass\n" + reporting, [][]string{{}}},
		{"each name in its own branches", "import os\nif os.environ.get('PROD'):\n    DATABASES = {'default': {}}\n    REPORTING_DATABASES = {}\nelse:\n    DATABASES, REPORTING_DATABASES = {'default': {}}, {}\n",
			[][]string{{"PROD=1"}, {}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			skipWithoutMatch(t, c.file)
			m, err := mergeSettingsFile(t, []byte(c.file))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(m.Data), c.file) {
				t.Errorf("the block is not after the file's statements:\n%s", m.Data)
			}
			for _, env := range c.envs {
				hasCluster(t, importSettings(t, m.Data, env...), m.Data)
			}
		})
	}

	for _, c := range []struct{ name, file, want string }{
		{"if without else", "import os\nif os.environ.get('PROD'):\n    DATABASES = {'default': {}}\n" + reporting,
			`line 2: DATABASES is not bound on every path through the if statement at lines 2-3, the last statement that binds or unbinds it before the citusgen block, whose DATABASES.update(...) would raise NameError on the others; bind it on every path (or add "DATABASES = {}" above line 2), then run again`},
		{"except passes", "try:\n    from prod_settings import DATABASES\nexcept ImportError:\n    pass\n" + reporting,
			`line 1: DATABASES is not bound on every path through the try statement at lines 1-4, the last statement that binds or unbinds it before the citusgen block, whose DATABASES.update(...) would raise NameError on the others; bind it on every path (or add "DATABASES = {}" above line 1), then run again`},
		{"match without a wildcard", "import os\nmatch os.environ.get('STAGE'):\n    case 'prod':\n        DATABASES = {'default': {}}\n    case 'dev':\n        DATABASES = {'default': {}}\n" + reporting,
			`line 2: DATABASES is not bound on every path through the match statement at lines 2-6, the last statement that binds or unbinds it before the citusgen block, whose DATABASES.update(...) would raise NameError on the others; bind it on every path (or add "DATABASES = {}" above line 2), then run again`},
		{"loop", "for _ in range(0):\n    DATABASES = {'default': {}}\n" + reporting,
			`line 1: DATABASES is not bound on every path through the for loop at lines 1-2, the last statement that binds or unbinds it before the citusgen block, whose DATABASES.update(...) would raise NameError on the others; bind it on every path (or add "DATABASES = {}" above line 1), then run again`},
		{"never", "SECRET_KEY = 'k'\n" + reporting,
			"localsettings.py never defines DATABASES, which the citusgen block updates (DATABASES.update(...) would raise NameError); add these lines (or your full definitions) before the block, then run again:\n    DATABASES = {}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			skipWithoutMatch(t, c.file)
			_, err := mergeSettingsFile(t, []byte(c.file))
			if err == nil || err.Error() != c.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, c.want)
			}
		})
	}
}
