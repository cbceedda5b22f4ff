package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The cold-start target: one `citusgen render` process costs at most 5× a
// hello-world Go binary on the same machine. Both are built here and run
// alternately, so machine noise falls on both; the medians are compared.
//
// A third binary, the dependency floor, blank-imports every third-party
// package citusgen links and does nothing: Go runs every linked package's
// initialiser before main, so no citusgen process can start faster. Its
// ratio (x-floor) shows how much of the budget the required libraries
// (compose-go's JSON Schema compiler, distribution/reference's regexps,
// pgx, kong) spend before citusgen's own code runs; x-own is what
// citusgen adds on top, in hello-world units.
func BenchmarkColdRender(b *testing.B) {
	dir := b.TempDir()
	hello := filepath.Join(dir, "hello")
	if err := os.WriteFile(filepath.Join(dir, "hello.go"), []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	build := func(out string, args ...string) {
		cmd := exec.Command("go", append([]string{"build", "-o", out}, args...)...)
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, o)
		}
	}
	build(hello, filepath.Join(dir, "hello.go"))
	citusgen := filepath.Join(dir, "citusgen")
	build(citusgen, ".")
	floor := filepath.Join(dir, "floor")
	buildFloor(b, dir, floor, build)
	run := func(argv ...string) time.Duration {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir // no citusgen.yaml there: the embedded default
		start := time.Now()
		if out, err := cmd.Output(); err != nil || (len(out) == 0 && argv[0] != floor) {
			b.Fatalf("%v: %v", argv, err)
		}
		return time.Since(start)
	}
	var h, r, f []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 20; j++ {
			h = append(h, run(hello))
			r = append(r, run(citusgen, "render"))
			f = append(f, run(floor))
		}
	}
	b.StopTimer()
	median := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	mh, mr, mf := median(h), median(r), median(f)
	ratio := float64(mr) / float64(mh)
	b.ReportMetric(float64(mh.Microseconds())/1000, "hello-ms")
	b.ReportMetric(float64(mr.Microseconds())/1000, "render-ms")
	b.ReportMetric(float64(mf.Microseconds())/1000, "floor-ms")
	b.ReportMetric(ratio, "x-hello")
	b.ReportMetric(float64(mf)/float64(mh), "x-floor")
	b.ReportMetric(float64(mr-mf)/float64(mh), "x-own")
	if ratio > 5 {
		b.Errorf("a cold render costs %.1f× a hello-world process (%s vs %s); the target is at most 5×; the dependencies alone cost %.1f× (%s)", ratio, mr, mh, float64(mf)/float64(mh), mf)
	}
}

// buildFloor builds a program that blank-imports every non-standard package
// the citusgen binary links, except citusgen's own, and exits. It is built
// inside this module (through -overlay, nothing is written to the tree) so it
// links exactly the versions go.mod selects.
func buildFloor(b *testing.B, dir, out string, build func(out string, args ...string)) {
	list, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		b.Fatalf("go list: %v", err)
	}
	var src strings.Builder
	src.WriteString("package main\n\nimport (\n")
	for _, p := range strings.Fields(string(list)) {
		// Internal packages of other modules cannot be imported; they
		// come in through the packages that use them.
		if strings.HasPrefix(p, "github.com/citusgen/citusgen") || strings.Contains(p, "/internal/") || strings.HasSuffix(p, "/internal") {
			continue
		}
		fmt.Fprintf(&src, "\t_ %q\n", p)
	}
	src.WriteString(")\n\nfunc main() {}\n")
	mainGo := filepath.Join(dir, "floor.go")
	if err := os.WriteFile(mainGo, []byte(src.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	pkgDir, err := filepath.Abs("../../internal/depfloor")
	if err != nil {
		b.Fatal(err)
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(pkgDir, "main.go"): mainGo}})
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		b.Fatal(err)
	}
	build(out, "-overlay", overlayFile, pkgDir)
}
