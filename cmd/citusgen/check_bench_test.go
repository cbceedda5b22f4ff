package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/testsupport/dockertest"
)

// defaultFiles writes the default topology's compose file and settings
// file, with citusgen's regions, into dir.
func defaultFiles(tb testing.TB, dir string) (compose, settings string) {
	tb.Helper()
	compose, settings = filepath.Join(dir, "hq-compose.yml"), filepath.Join(dir, "localsettings.py")
	if err := os.WriteFile(compose, []byte("services:\n  web:\n    image: web\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	for _, args := range [][]string{{"render", "--into", compose}, {"render", "settings", "--into", settings}} {
		var out, errOut bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &errOut); code != 0 {
			tb.Fatalf("%v: %s", args, errOut.String())
		}
	}
	return compose, settings
}

// check runs python3 at most once per run, and never runs the settings
// file: a file that would raise, or loop forever, when executed is read.
func TestCheckStartsOnePython(t *testing.T) {
	dir := t.TempDir()
	compose, settings := defaultFiles(t, dir)
	b, _ := os.ReadFile(settings)
	// Executing this would stop or hang; reading it is fine.
	poisoned := "import sys\nsys.exit(3)\nwhile True:\n    pass\n" + string(b)
	if err := os.WriteFile(settings, []byte(poisoned), 0o644); err != nil {
		t.Fatal(err)
	}
	// The interpreter, behind a script that notes each start of it.
	py, err := settingsfile.Interpreter()
	if err != nil {
		t.Skip(err)
	}
	starts, wrapper := filepath.Join(dir, "starts"), filepath.Join(dir, "python3")
	script := fmt.Sprintf("#!/bin/sh\necho start >> '%s'\nexec '%s' \"$@\"\n", starts, py)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dockertest.Citusgen(t), "check", "--compose", compose, "--settings", settings)
	cmd.Env = append(os.Environ(), settingsfile.PythonEnv+"="+wrapper)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	if log, _ := os.ReadFile(starts); strings.Count(string(log), "start") != 1 {
		t.Errorf("check started python3 %d times", strings.Count(string(log), "start"))
	}
}

// BenchmarkCheck: `citusgen check` of the default compose and settings
// files (with their regions) as a process, beside a bare `python3 -c pass`
// of the interpreter citusgen uses, run alternately, by wall time and by
// the CPU time of the process and its python3 (on a machine busy with
// other work the wall time mostly measures waiting). The bound: check
// takes under 250 ms. path-python3-ms is the first python3 on PATH, which
// a version manager's shim slows down (CITUSGEN_PYTHON names another).
//
// With CITUSGEN_CHECK_PAIR naming a folder that holds a project's
// hq-compose.yml and localsettings.py (CommCare HQ's, say), it checks a
// copy of those instead, after bringing them in sync as a user would:
// import, then render --into --adopt of both.
//
//	go test ./cmd/citusgen -run '^$' -bench BenchmarkCheck -benchtime 1x
func BenchmarkCheck(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "citusgen")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	compose, settings := defaultFiles(b, dir)
	var spec []string
	if src := os.Getenv("CITUSGEN_CHECK_PAIR"); src != "" {
		compose, settings, spec = adoptedPair(b, src, dir)
	}
	check := append(append([]string{bin}, spec...), "check", "--compose", compose, "--settings", settings)
	py, err := settingsfile.Interpreter()
	if err != nil {
		b.Fatal(err)
	}
	pathPython, _ := exec.LookPath("python3")
	// timed runs argv and returns its wall time and the CPU time of it
	// and the children it waited for (citusgen waits for its python3).
	timed := func(cpu *[]time.Duration, argv ...string) time.Duration {
		// Run from the folder render ran from: a file rendered on the
		// embedded default names itself from there.
		cmd := exec.Command(argv[0], argv[1:]...)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %v\n%s", argv, err, out)
		}
		wall := time.Since(start)
		*cpu = append(*cpu, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
		return wall
	}
	var c, p, pp, cc, pc, ignored []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 15; j++ {
			c = append(c, timed(&cc, check...))
			p = append(p, timed(&pc, py, "-c", "pass"))
			if pathPython != "" {
				pp = append(pp, timed(&ignored, pathPython, "-c", "pass"))
			}
		}
	}
	b.StopTimer()
	median := func(d []time.Duration) time.Duration {
		if len(d) == 0 {
			return 0
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	mc, mp := median(c), median(p)
	b.ReportMetric(float64(mc.Microseconds())/1000, "check-ms")
	b.ReportMetric(float64(median(cc).Microseconds())/1000, "check-cpu-ms")
	b.ReportMetric(float64(mp.Microseconds())/1000, "python3-ms")
	b.ReportMetric(float64(median(pp).Microseconds())/1000, "path-python3-ms")
	b.ReportMetric(float64(mc)/float64(mp), "x-python3")
	b.ReportMetric(float64(median(cc))/float64(median(pc)), "x-python3-cpu")
	if mc > 250*time.Millisecond {
		load, _ := os.ReadFile("/proc/loadavg")
		b.Errorf("check takes %s (CPU time %s; a bare %s -c pass %s); the bound is 250 ms (load average %s)", mc, median(cc), py, mp, strings.Fields(string(load) + " ?")[0])
	}
}

// adoptedPair copies the hq-compose.yml and localsettings.py in src into
// dir, imports a spec from them and adopts both into it; it returns the
// files and the -t flag naming the spec.
func adoptedPair(tb testing.TB, src, dir string) (compose, settings string, spec []string) {
	tb.Helper()
	compose, settings = filepath.Join(dir, "pair-compose.yml"), filepath.Join(dir, "pair-localsettings.py")
	for from, to := range map[string]string{"hq-compose.yml": compose, "localsettings.py": settings} {
		b, err := os.ReadFile(filepath.Join(src, from))
		if err != nil {
			tb.Fatal(err)
		}
		write(tb, to, string(b))
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"import", "--compose", compose, "--settings", settings}, strings.NewReader(""), &out, &errOut); code != 0 {
		tb.Fatalf("import: %s", errOut.String())
	}
	path := filepath.Join(dir, "pair.yaml")
	write(tb, path, out.String())
	spec = []string{"-t", path}
	for _, args := range [][]string{{"render", "--into", compose, "--adopt"}, {"render", "settings", "--into", settings, "--adopt"}} {
		out.Reset()
		errOut.Reset()
		if code := run(append(spec, args...), strings.NewReader(""), &out, &errOut); code != 0 {
			tb.Fatalf("%v: %s", args, errOut.String())
		}
	}
	return compose, settings, spec
}
