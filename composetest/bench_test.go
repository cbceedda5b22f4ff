package composetest

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/citusgen/citusgen/testsupport/dockertest"
)

// Time to a registered cluster: `docker compose up -d --wait` from nothing
// (no containers, no volumes) until it returns, which with the setup
// service means every worker is registered, for the default topology on
// every image of the matrix (the PostgreSQL 18 one first), for 8 workers,
// and with the opt-in healthcheck start_interval, beside one bare node of
// the same image (`docker run` with
// the image's own healthcheck) becoming healthy. The target is at most 1.5×
// the bare node, since the nodes start in parallel. It reports and does not
// fail: the ratio depends on how many cores share the nodes' first start
// (initdb and CREATE EXTENSION citus in each), which machine-cpu-s shows.
// x-cpu-floor is the ratio the cores alone force: the machine's CPU time
// for the cluster spread over every core, against the bare node's wall
// time. Where up-wait-s is close to machine-cpu-s / cores, the start is
// CPU-bound and no depends_on or healthcheck setting makes it shorter
// (measured: a setup service polling the nodes itself, started with them
// instead of after they are healthy, gave the same times).
//
//	go test ./composetest -run '^$' -bench ComposeUp -benchtime 3x
func BenchmarkComposeUp(b *testing.B) {
	bin := dockertest.Citusgen(b)
	measure := func(name, image, spec string) {
		b.Run(name, func(b *testing.B) {
			dc := dockertest.Require(b, image)
			var up, bare []time.Duration
			var cpu, bareCPU []float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				wall, wallCPU := bareNode(b, image)
				bare = append(bare, wall)
				bareCPU = append(bareCPU, wallCPU)
				dir := b.TempDir()
				p := dc.NewProject(b, dir, "hq-compose.yml")
				write(b, filepath.Join(dir, "citusgen.yaml"), spec)
				out, err := exec.Command(bin, "-t", filepath.Join(dir, "citusgen.yaml"), "render").Output()
				if err != nil {
					b.Fatal(err)
				}
				write(b, filepath.Join(dir, "hq-compose.yml"), string(out))
				for j, port := range dockertest.FreePorts(b, 9) {
					v := fmt.Sprintf("CITUS_WORKER%d_EXTERNAL_PORT", j)
					if j == 0 {
						v = "CITUS_MASTER_EXTERNAL_PORT"
					}
					p.Env[v] = strconv.Itoa(port)
				}
				b.StartTimer()
				c0 := machineCPU()
				start := time.Now()
				p.Must(10*time.Minute, "up", "-d", "--wait")
				up = append(up, time.Since(start))
				cpu = append(cpu, (machineCPU() - c0).Seconds())
				b.StopTimer()
				p.Must(5*time.Minute, "down", "-v")
				b.StartTimer()
			}
			m, bm := median(up), median(bare)
			b.ReportMetric(m.Seconds(), "up-wait-s")
			b.ReportMetric(bm.Seconds(), "bare-node-s")
			b.ReportMetric(m.Seconds()/bm.Seconds(), "x-bare")
			mc := median(cpu)
			b.ReportMetric(mc, "machine-cpu-s")
			b.ReportMetric(median(bareCPU), "bare-node-cpu-s")
			b.ReportMetric(float64(runtime.NumCPU()), "cores")
			b.ReportMetric(mc/float64(runtime.NumCPU())/bm.Seconds(), "x-cpu-floor")
		})
	}
	// Every image of the matrix, the PostgreSQL 18 one first.
	for _, image := range matrixImages() {
		measure(image[strings.LastIndexByte(image, ':')+1:]+"/default", image, twoWorkersOn(image))
	}
	measure("8-workers", currentImage, twoWorkersOn(currentImage)[:strings.Index(twoWorkers, "workers:")]+
		"workers: {count: 8, service_prefix: citus_worker, alias_prefix: citus-ucr-worker, first_port: 5601}\n")
	// The opt-in start interval, where the engine knows it (API 1.44,
	// Docker 25): the first check comes after 1 s instead of one interval.
	if api, err := exec.Command("docker", "version", "-f", "{{.Server.APIVersion}}").Output(); err == nil && apiAtLeast(strings.TrimSpace(string(api)), 1, 44) {
		measure("default-start-interval", currentImage, twoWorkers+"compose: {healthcheck_start_interval: 1s}\n")
	} else {
		b.Logf("default-start-interval not measured: the engine's API %s predates healthcheck start_interval (1.44, Docker 25)", strings.TrimSpace(string(api)))
	}
}

// apiAtLeast compares a Docker API version ("1.51") with major.minor.
func apiAtLeast(v string, major, minor int) bool {
	ma, mi, _ := strings.Cut(v, ".")
	a, err1 := strconv.Atoi(ma)
	i, err2 := strconv.Atoi(mi)
	return err1 == nil && err2 == nil && (a > major || a == major && i >= minor)
}

// bareNode starts one container of the image with nothing but a password and
// its own HEALTHCHECK, and returns how long it took to turn healthy and the
// machine's CPU time meanwhile, in seconds.
func bareNode(b *testing.B, image string) (time.Duration, float64) {
	b.Helper()
	name := fmt.Sprintf("citusgen-bench-bare-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	defer exec.Command("docker", "rm", "-fv", name).Run()
	c0 := machineCPU()
	start := time.Now()
	if out, err := exec.CommandContext(ctx, "docker", "run", "-d", "--name", name, "-e", "POSTGRES_PASSWORD=bench", image).CombinedOutput(); err != nil {
		b.Fatalf("docker run: %v\n%s", err, out)
	}
	for ctx.Err() == nil {
		out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Health.Status}}", name).Output()
		if strings.TrimSpace(string(out)) == "healthy" {
			return time.Since(start), (machineCPU() - c0).Seconds()
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("the bare node did not turn healthy within 5 minutes")
	return 0, 0
}

// median is the middle of the values measured (the upper one of an even
// count); the slice is left as it was.
func median[T cmp.Ordered](v []T) T {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

// machineCPU is the CPU time every process on the machine has used (user,
// nice, system, irq, softirq), from /proc/stat: the containers' too.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	fields := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var ticks int64
	for i, f := range fields[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(f, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ = 100
}
