package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// The cold-start target: one `citusgen render` process costs at most 5× a
// hello-world Go binary on the same machine. Both are built here and run
// alternately, so machine noise falls on both; the medians are compared.
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
	run := func(argv ...string) time.Duration {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir // no citusgen.yaml there: the embedded default
		start := time.Now()
		if out, err := cmd.Output(); err != nil || len(out) == 0 {
			b.Fatalf("%v: %v", argv, err)
		}
		return time.Since(start)
	}
	var h, r []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 20; j++ {
			h = append(h, run(hello))
			r = append(r, run(citusgen, "render"))
		}
	}
	b.StopTimer()
	median := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	mh, mr := median(h), median(r)
	ratio := float64(mr) / float64(mh)
	b.ReportMetric(float64(mh.Microseconds())/1000, "hello-ms")
	b.ReportMetric(float64(mr.Microseconds())/1000, "render-ms")
	b.ReportMetric(ratio, "x-hello")
	if ratio > 5 {
		b.Errorf("a cold render costs %.1f× a hello-world process (%s vs %s); the target is at most 5×", ratio, mr, mh)
	}
}
