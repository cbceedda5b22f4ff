package dockertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/citusgen/citusgen/testsupport/pgtest"
)

// A node's first start (initdb, then CREATE EXTENSION citus in the
// database) is most of the CPU a compose test spends, and on two cores it
// is what makes `up` slow. Seeds are data directories made once per image
// and first-start environment by the image's own entrypoint; a test that
// is not about the first start gets a copy per node as bind mounts under
// VOLUME_PREFIX (which the rendered documents honour), so its nodes start
// on existing data, as after a `down` and `up`.

// Seed is how a node's data is first made: the image and the environment
// its entrypoint initialises it with, and where the image keeps its data.
type Seed struct {
	Image  string
	Target string   // the data volume's target in the container
	Env    []string // POSTGRES_USER=..., POSTGRES_PASSWORD=..., POSTGRES_DB=...
	User   string   // the user pg_isready waits for, as POSTGRES_USER
	DB     string
}

// SeedVolumes copies a seeded data directory for each service (service ->
// how its node is first made) into a fresh folder and returns it, ending
// in "/", for VOLUME_PREFIX. It returns "" when seeding is not possible
// here (not root: the copies keep the image's owner), and the test then
// runs on fresh volumes.
func SeedVolumes(tb testing.TB, nodes map[string]Seed) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		return ""
	}
	prefix := tb.TempDir()
	services := make([]string, 0, len(nodes))
	for s := range nodes {
		services = append(services, s)
	}
	sort.Strings(services)
	for _, service := range services {
		dir, err := seedFor(nodes[service])
		if err != nil {
			tb.Fatalf("seeding the data of %s: %v", service, err)
		}
		if out, err := exec.Command("cp", "-a", dir, filepath.Join(prefix, service)).CombinedOutput(); err != nil {
			tb.Fatalf("copying the seed of %s: %v: %s", service, err, out)
		}
	}
	return prefix + "/"
}

// seedFor makes the data directory of a seed (pgtest.ImageDir: once, and
// kept across processes under the image's ID).
func seedFor(s Seed) (string, error) {
	return pgtest.ImageDir("citusgen-seeds", s.Image, append([]string{s.Target}, s.Env...), func(dir string) error {
		// The image's postgres user must get through the mount's root: on
		// PostgreSQL 18 images that is /var/lib/postgresql, above PGDATA,
		// which the entrypoint does not chown.
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
		return initSeed(s, dir)
	})
}

// initSeed runs the image's entrypoint on an empty dir until the server
// it starts after initialisation answers over TCP (the first-start server
// listens on the socket only), then stops it cleanly.
func initSeed(s Seed, dir string) error {
	name := fmt.Sprintf("citusgen-seed-%d", time.Now().UnixNano())
	// No init scripts: the image's own would CREATE EXTENSION citus, and
	// every copy would then carry one Citus server_id, so the coordinator
	// would take each worker for itself ("Node cannot add itself as a
	// worker"). The bootstrap creates the extension on each node instead.
	args := []string{"run", "-d", "--name", name, "-v", dir + ":" + s.Target, "--tmpfs", "/docker-entrypoint-initdb.d"}
	for _, e := range s.Env {
		args = append(args, "-e", e)
	}
	if out, err := exec.Command("docker", append(args, s.Image)...).CombinedOutput(); err != nil {
		return fmt.Errorf("docker run %s: %v: %s", s.Image, err, out)
	}
	defer exec.Command("docker", "rm", "-fv", name).Run()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for {
		err := exec.CommandContext(ctx, "docker", "exec", name, "pg_isready", "-q", "-h", "127.0.0.1", "-U", s.User, "-d", s.DB).Run()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			logs, _ := exec.Command("docker", "logs", "--tail", "20", name).CombinedOutput()
			return fmt.Errorf("the seed node of %s did not come up within 5 minutes:\n%s", s.Image, logs)
		}
		if running, _ := exec.Command("docker", "inspect", "-f", "{{.State.Running}}", name).Output(); strings.TrimSpace(string(running)) != "true" {
			logs, _ := exec.Command("docker", "logs", "--tail", "20", name).CombinedOutput()
			return fmt.Errorf("the seed node of %s exited:\n%s", s.Image, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, err := exec.Command("docker", "stop", "-t", "60", name).CombinedOutput(); err != nil {
		return fmt.Errorf("docker stop: %v: %s", err, out)
	}
	return nil
}
