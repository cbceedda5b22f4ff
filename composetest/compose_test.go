// Package composetest runs what `citusgen render` writes with the real
// Docker engine and the real `docker compose` CLI: compose decides what
// starts, what is recreated and when --wait returns, not a model of it.
// It has only tests, no API; they run in a package of their own so that
// they overlap with the command's other tests (go test runs packages side
// by side).
package composetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/testsupport/dockertest"
	"github.com/citusgen/citusgen/topology"
)

// currentImage is the image compose's own behaviour is tested on: the
// stand-in of what users pull, citusdata/citus:14.x on PostgreSQL 18
// (../shared/citus/image.sh --citus 14-pg18 citusdata/citus:14.0);
// CITUSGEN_COMPOSE_IMAGE names another.
var currentImage = func() string {
	if img := os.Getenv("CITUSGEN_COMPOSE_IMAGE"); img != "" {
		return img
	}
	return "citusdata/citus:14.0"
}()

// matrixImages are the images the tests that depend on the Citus release or
// the image's layout run on: CITUSGEN_COMPOSE_IMAGES, comma-separated (CI
// names the three stand-ins: 14.0 on PostgreSQL 18, 14.0-pg17 and
// 13.2-pg15), else the current image alone. The tags name their
// PostgreSQL major as the published ones do, so the spec mounts each
// image's data where it keeps it and verify finds what the tag says.
func matrixImages() []string {
	var out []string
	for _, img := range strings.Split(os.Getenv("CITUSGEN_COMPOSE_IMAGES"), ",") {
		if img = strings.TrimSpace(img); img != "" {
			out = append(out, img)
		}
	}
	if len(out) == 0 {
		return []string{currentImage}
	}
	return out
}

// forEachImage runs f as a subtest per matrix image, named after its tag.
func forEachImage(t *testing.T, f func(t *testing.T, image string)) {
	for _, img := range matrixImages() {
		t.Run(img[strings.LastIndexByte(img, ':')+1:], func(t *testing.T) { f(t, img) })
	}
}

// dataVolumeOf is where an image keeps its data, for fixtures that mount
// a tmpfs over the volume it declares.
func dataVolumeOf(t testing.TB, image string) string {
	major, ok := citus.ImagePostgres(image)
	if !ok {
		t.Fatalf("%s is not a citusdata/citus tag that names its PostgreSQL major", image)
	}
	return citus.DataVolume(major)
}

// imageRE finds every image a spec names (the top-level one and per-node
// overrides), not manager_image; postgresRE every postgres key, which
// belongs to the images replaced.
var (
	imageRE    = regexp.MustCompile(`(?m)(^|[\s{,])image: *("[^"\n]*"|[^\s,}]+)`)
	postgresRE = regexp.MustCompile(`(?m)^postgres: *\d+\n|, *postgres: *\d+`)
)

// withImage makes a spec run the current image; withImageOf another one.
func withImage(spec string) string { return withImageOf(spec, currentImage) }

// withImageOf makes a spec run image: every image it names is replaced (and
// the postgres keys that went with them dropped), and a spec that names none
// gets it at the top (the default image is a release this machine cannot run).
func withImageOf(spec, image string) string {
	spec = postgresRE.ReplaceAllString(spec, "")
	if !imageRE.MatchString(spec) {
		return "image: " + image + "\n" + spec
	}
	return imageRE.ReplaceAllString(spec, "${1}image: "+image)
}

// These tests run what `citusgen render` writes with the real Docker engine
// and the real `docker compose` CLI: compose decides what starts, what is
// recreated and when --wait returns, not a model of it.

// composeCluster is one rendered compose project under test: its spec, its
// compose file, the free ports it publishes and the environment the user's
// shell would have.
type composeCluster struct {
	t       testing.TB
	p       *dockertest.Project
	dir     string
	spec    string // path of citusgen.yaml
	compose string // path of the compose file the project runs
	top     *topology.Topology
	ports   map[string]int // service -> published port on the host
}

// newComposeCluster writes the spec into a fresh folder, renders the compose
// file beside it (unless the test brings its own) and publishes every port
// on a free one through the port variables.
func newComposeCluster(t testing.TB, dc *dockertest.Compose, spec string, env map[string]string) *composeCluster {
	t.Helper()
	dir := t.TempDir()
	c := &composeCluster{t: t, dir: dir, spec: filepath.Join(dir, "citusgen.yaml"), compose: filepath.Join(dir, "hq-compose.yml"), ports: map[string]int{}}
	write(t, c.spec, spec)
	c.p = dc.NewProject(t, dir, "hq-compose.yml")
	for k, v := range env {
		c.p.Env[k] = v
	}
	c.load()
	return c
}

// load reads the spec again and gives every node with a published port a
// free one (kept across reloads, as a user's .env would keep it).
func (c *composeCluster) load() {
	c.t.Helper()
	top, err := topology.Load(c.spec)
	if err != nil {
		c.t.Fatal(err)
	}
	c.top = top
	var missing []topology.Node
	for _, n := range top.Nodes() {
		if _, ok := c.ports[n.Service]; !ok && n.Port != 0 {
			missing = append(missing, n)
		}
	}
	for i, port := range dockertest.FreePorts(c.t, len(missing)) {
		n := missing[i]
		c.ports[n.Service] = port
		c.p.Env[n.PortVariable] = strconv.Itoa(port)
	}
}

// seed starts the nodes (and the extra services named, on the
// coordinator's image) on seeded data instead of their first start: for
// tests that are not about the first start. Without root it does nothing
// and the nodes start fresh.
func (c *composeCluster) seed(extra ...string) {
	c.t.Helper()
	env := []string{"POSTGRES_USER=" + c.top.User, "POSTGRES_DB=" + c.top.ClusterDatabase()}
	switch pw, _ := c.top.ResolvePassword(func(k string) (string, bool) { v, ok := c.p.Env[k]; return v, ok }); {
	case pw != "":
		env = append(env, "POSTGRES_PASSWORD="+pw)
	default:
		env = append(env, "POSTGRES_HOST_AUTH_METHOD=trust")
	}
	seedOf := func(image string) dockertest.Seed {
		return dockertest.Seed{Image: image, Target: dataVolumeOf(c.t, image), Env: env, User: c.top.User, DB: c.top.ClusterDatabase()}
	}
	nodes := map[string]dockertest.Seed{}
	for _, n := range c.top.Nodes() {
		nodes[n.Service] = seedOf(n.Image)
	}
	for _, s := range extra {
		nodes[s] = seedOf(c.top.Coordinator.Image)
	}
	if prefix := dockertest.SeedVolumes(c.t, nodes); prefix != "" {
		c.p.Env[c.top.VolumePrefixVariable] = prefix
	}
}

// seededCluster is the quick start's cluster on the current image, its
// nodes on seeded data, rendered: for tests of what compose does after the
// first start.
func seededCluster(t *testing.T) *composeCluster {
	t.Helper()
	dc := dockertest.Require(t, currentImage)
	c := newComposeCluster(t, dc, twoWorkers, nil)
	c.seed()
	c.render()
	return c
}

// setSpec replaces the spec and renders the compose file again.
func (c *composeCluster) setSpec(spec string) {
	c.t.Helper()
	write(c.t, c.spec, spec)
	c.load()
	c.render()
}

// render writes the whole compose file with `citusgen render > FILE`.
func (c *composeCluster) render() {
	c.t.Helper()
	out, code := c.citusgen("render")
	if code != 0 {
		c.t.Fatalf("render: exit %d\n%s", code, out)
	}
	write(c.t, c.compose, out)
}

// citusgen runs the citusgen command on the host, in the project's folder
// and with its environment, as a user's shell would.
func (c *composeCluster) citusgen(args ...string) (string, int) {
	c.t.Helper()
	limit := 3 * time.Minute
	if args[0] == "upgrade" {
		limit = 15 * time.Minute // an upgrade runs pg_upgrade, and verify twice
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockertest.Citusgen(c.t), append([]string{"-t", c.spec}, args...)...)
	cmd.Dir = c.dir
	cmd.Env = os.Environ()
	for k, v := range c.p.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if cmd.Args[len(cmd.Args)-1] == "render" || slicesContains(args, "--into") {
		// stdout only: the file must not hold warnings.
		out, err := cmd.Output()
		return string(out), exitCode(c.t, err)
	}
	out, err := cmd.CombinedOutput()
	return string(out), exitCode(c.t, err)
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func exitCode(t testing.TB, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if e, ok := err.(*exec.ExitError); ok {
		return e.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// citusgenIn runs citusgen in dir with no --topology, as a user runs it
// there, with the project's environment.
func (c *composeCluster) citusgenIn(dir string, args ...string) (string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockertest.Citusgen(c.t), args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range c.p.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), exitCode(c.t, err)
}

// hostNodes are the --node flags that reach each node on its published port.
func (c *composeCluster) hostNodes() []string {
	var args []string
	for _, n := range c.top.Nodes() {
		if port, ok := c.ports[n.Service]; ok {
			args = append(args, "--node", fmt.Sprintf("%s=127.0.0.1:%d", n.Service, port))
		}
	}
	return args
}

// live runs a command that talks to the cluster from the host.
func (c *composeCluster) live(command string, args ...string) (string, int) {
	c.t.Helper()
	return c.citusgen(append(append([]string{command, "--reach", "host"}, c.hostNodes()...), args...)...)
}

// mustVerify proves the cluster matches the spec from the host.
func (c *composeCluster) mustVerify() string {
	c.t.Helper()
	// --wait: on a machine loaded with other clusters a connection between
	// nodes (TLS, a new backend) can take longer than the health check
	// grants it; a cluster that settles passes, a broken one still fails.
	out, code := c.live("verify", "--timeout", "60s", "--wait", "2m")
	if code != 0 {
		c.t.Fatalf("verify from the host: exit %d\n%s", code, out)
	}
	return out
}

// verifyInNetwork runs citusgen verify in a container on the project's
// network, reaching the nodes by service name as an application there does.
func (c *composeCluster) verifyInNetwork(image string) (string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"run", "--rm", "--network", c.p.Network(),
		"-v", dockertest.Citusgen(c.t) + ":/usr/local/bin/citusgen:ro",
		"-v", c.spec + ":/etc/citusgen.yaml:ro"}
	if c.top.PasswordEnv != "" {
		args = append(args, "-e", c.top.PasswordEnv) // from this process's environment
	}
	args = append(args, image, "citusgen", "-t", "/etc/citusgen.yaml", "verify", "--reach", "network", "--timeout", "60s")
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = os.Environ()
	for k, v := range c.p.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), exitCode(c.t, err)
}

// psql runs SQL in the coordinator's container, in the cluster database.
func (c *composeCluster) psql(sql string) string {
	c.t.Helper()
	// A bound against a hang, not a speed test: create_distributed_table on
	// a machine running many clusters took over a minute.
	return c.p.Must(3*time.Minute, "exec", "-T", c.top.Coordinator.Service,
		"psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", c.top.User, "-d", c.top.ClusterDatabase(), "-c", sql)
}

// containerID names the container of a service (empty when there is none).
func (c *composeCluster) containerID(service string) string {
	c.t.Helper()
	return strings.TrimSpace(c.p.Must(time.Minute, "ps", "-a", "-q", service))
}

// Every golden case whose document can run here, on the image under test
// (the images a case names are replaced by it): up --wait, then verify from
// the host and from inside the network, then bootstrap finds nothing to do.
func TestComposeGoldenCases(t *testing.T) {
	excluded := map[string]string{
		"membership-manager":      "runs citusdata/membership-manager, which needs the docker socket and an image no registry here serves",
		"hq-docker-2020":          "membership manager (see membership-manager), and password-less workers that current images refuse to initialise",
		"import-hq-2019":          "membership manager and password-less workers, as hq-docker-2020",
		"import-hq-2020":          "membership manager and password-less workers, as hq-docker-2020",
		"import-dev-setup":        "membership manager and password-less workers, as hq-docker-2020",
		"servers-outside-compose": "image: none: servers outside compose, no compose document",
	}
	dirs, err := filepath.Glob(filepath.Join("..", "golden", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	// The cases brought up: the default on every image (registration and
	// verify on each release and data layout), and the ones whose
	// difference is in what runs: a password of every character class
	// through compose, psql and Citus, and Django in the network. The
	// others differ in text only (names, ports, counts, variables): real
	// docker compose reads and validates each (config), as compose-go does
	// in the generator's tests.
	up := map[string]bool{"default": true, "password-quotes": true, "django-in-network": true}
	t.Parallel()
	forEachImage(t, func(t *testing.T, image string) {
		dc := dockertest.Require(t, image)
		for _, dir := range dirs {
			name := filepath.Base(dir)
			if image != currentImage && name != "default" {
				// The other cases' documents differ from the default in text,
				// not by image: they run on the current image.
				continue
			}
			t.Run(name, func(t *testing.T) {
				if why, ok := excluded[name]; ok {
					t.Skipf("not run on the engine: %s", why)
				}
				t.Parallel()
				if up[name] {
					runGoldenCase(t, dc, dir, image)
				} else {
					configGoldenCase(t, dc, dir, image)
				}
			})
		}
	})
}

// goldenCluster is a golden case's spec on image, rendered into a project.
func goldenCluster(t *testing.T, dc *dockertest.Compose, dir, image string) *composeCluster {
	b, err := os.ReadFile(filepath.Join(dir, "topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec := withImageOf(string(b), image)
	top, err := topology.Parse("topology.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	if top.PasswordEnv != "" {
		env[top.PasswordEnv] = `s3cr'et "pw" \ $x`
	}
	c := newComposeCluster(t, dc, spec, env)
	c.render()
	return c
}

// configGoldenCase: docker compose reads the rendered document, with
// every variable it takes, as up would, and finds each node's service.
func configGoldenCase(t *testing.T, dc *dockertest.Compose, dir, image string) {
	c := goldenCluster(t, dc, dir, image)
	services := strings.Fields(c.p.Must(time.Minute, "config", "--services"))
	for _, n := range c.top.Nodes() {
		if !slicesContains(services, n.Service) {
			t.Errorf("docker compose config lists no service %s: %v", n.Service, services)
		}
	}
	c.p.Must(time.Minute, "config", "--quiet")
}

// runGoldenCase runs a golden case's document on image: up --wait, then
// verify from the host and from inside the network, then bootstrap finds
// nothing to do.
func runGoldenCase(t *testing.T, dc *dockertest.Compose, dir, image string) {
	c := goldenCluster(t, dc, dir, image)
	// The first start on each image is the quick start's and down/up's to
	// test; here the cases' own differences are.
	c.seed()
	top, env := c.top, c.p.Env
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	out := c.mustVerify()
	if pw := env[top.PasswordEnv]; pw != "" && strings.Contains(out, pw) {
		t.Errorf("verify printed the password")
	}
	out, code := c.verifyInNetwork(image)
	if code != 0 {
		t.Fatalf("verify inside the compose network: exit %d\n%s", code, out)
	}
	out, code = c.live("bootstrap", "--wait", "30s")
	if code != 0 || !strings.Contains(out, "; 0 changes applied,") {
		t.Fatalf("bootstrap after the setup service: exit %d\n%s", code, out)
	}
}

var twoWorkers = twoWorkersOn(currentImage)

// twoWorkersOn is the Quick start's cluster on image.
func twoWorkersOn(image string) string {
	return "image: " + image + "\npassword: commcarehq\n" +
		"coordinator: {service: citus_master, alias: icds-ucr, port: 5600}\nworkers:\n" +
		"  - {service: citus_worker1, alias: citus-ucr-worker1, port: 5601}\n" +
		"  - {service: citus_worker2, alias: citus-ucr-worker2, port: 5602}\n"
}

const thirdWorker = "  - {service: citus_worker3, alias: citus-ucr-worker3, port: 5603}\n"

// The Quick start as a user runs it: a plain `up -d` returns before the
// cluster is registered; the setup service turns healthy once it is, and
// stays up. Then verify from both sides, bootstrap finds nothing to do, and
// a stopped worker is caught.
func TestComposeQuickStart(t *testing.T) {
	t.Parallel()
	forEachImage(t, quickStart)
}

func quickStart(t *testing.T, image string) {
	t.Parallel()
	dc := dockertest.Require(t, image)
	c := newComposeCluster(t, dc, twoWorkersOn(image), nil)
	// The README's commands: files with citusgen's regions, which check
	// (the pre-commit hook) accepts.
	for _, args := range [][]string{
		{"render", "--into", "hq-compose.yml"},
		{"render", "settings", "--into", "localsettings.py"},
	} {
		if out, code := c.citusgen(args...); code != 0 {
			t.Fatalf("citusgen %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}
	// check as the user runs it: without the free ports this test
	// publishes the nodes on (CITUS_*_EXTERNAL_PORT), which check rightly
	// reports as drift from the settings' ports.
	ports := map[string]string{}
	for _, n := range c.top.Nodes() {
		ports[n.PortVariable] = c.p.Env[n.PortVariable]
		delete(c.p.Env, n.PortVariable)
	}
	if out, code := c.citusgen("check", "--compose", "hq-compose.yml", "--settings", "localsettings.py"); code != 0 {
		t.Fatalf("citusgen check: exit %d\n%s", code, out)
	}
	for k, v := range ports {
		c.p.Env[k] = v
	}
	c.p.Must(5*time.Minute, "up", "-d")
	waitHealthy(t, c, citus.SetupService, 3*time.Minute)
	if got := c.psql("SELECT count(*) FROM pg_dist_node WHERE groupid > 0 AND isactive"); strings.TrimSpace(got) != "2" {
		t.Fatalf("healthy setup service, but %s active workers", got)
	}
	c.mustVerify()
	// From the Django project's folder, as its developers run it: the spec
	// in the folder above is the one used, and named.
	sub := filepath.Join(c.dir, "nusite")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, code := c.citusgenIn(sub, append([]string{"verify", "--reach", "host", "--timeout", "60s", "--wait", "2m"}, c.hostNodes()...)...); code != 0 ||
		!strings.Contains(out, "citusgen: topology: ../citusgen.yaml (the nearest citusgen.yaml, in a folder above this one)") {
		t.Errorf("verify from a subfolder: exit %d\n%s", code, out)
	}
	// Each node is published on loopback only, as the engine binds it: a
	// superuser with a known password is no service for the network.
	for _, n := range c.top.Nodes() {
		bound := strings.Fields(c.p.Must(time.Minute, "port", "--index", "1", n.Service, "5432"))
		if want := fmt.Sprintf("127.0.0.1:%d", c.ports[n.Service]); len(bound) != 1 || bound[0] != want {
			t.Errorf("%s is published on %v, want only %s", n.Service, bound, want)
		}
	}
	if out, code := c.verifyInNetwork(image); code != 0 {
		t.Fatalf("verify inside the network: exit %d\n%s", code, out)
	}
	if out, code := c.live("bootstrap"); code != 0 || !strings.Contains(out, "; 0 changes applied,") {
		t.Fatalf("bootstrap after the setup service: exit %d\n%s", code, out)
	}
	// A second up changes nothing: the setup service is not run again.
	id := c.containerID(citus.SetupService)
	c.p.Must(time.Minute, "up", "-d", "--wait")
	if c.containerID(citus.SetupService) != id {
		t.Errorf("an unchanged up recreated the setup service")
	}

	// A stopped worker stays active in pg_dist_node; verify still sees it.
	c.p.Must(time.Minute, "stop", "citus_worker2")
	out, code := c.live("verify", "--timeout", "30s")
	if code != 1 {
		t.Fatalf("verify with a stopped worker: exit %d\n%s", code, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^reachable\s+citus_worker2\s+FAIL`),
		regexp.MustCompile(`(?m)^cluster-health\s+citus_master\s+FAIL.*citus_worker2`),
	} {
		if !want.MatchString(out) {
			t.Errorf("verify output does not match %s:\n%s", want, out)
		}
	}
}

// waitHealthy polls a service's container until its healthcheck passes.
func waitHealthy(t *testing.T, c *composeCluster, service string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		id := c.containerID(service)
		if id != "" {
			out, err := exec.Command("docker", "inspect", "-f", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}} {{.State.ExitCode}}", id).CombinedOutput()
			state := strings.TrimSpace(string(out))
			switch {
			case err != nil:
				t.Fatalf("docker inspect %s: %v %s", service, err, out)
			case state == "running healthy 0":
				return
			case strings.HasPrefix(state, "exited"):
				t.Fatalf("%s exited (%s):\n%s", service, state, c.p.Must(time.Minute, "logs", "--no-color", service))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy within %s", service, limit)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// up --wait returns exactly when the cluster is registered, and fails when
// registration fails: here the spec's password changed after the nodes'
// volumes were initialised with the old one, so the setup service is
// refused, exits 1, and up --wait says so.
func TestComposeUpWait(t *testing.T) {
	t.Parallel()
	c := seededCluster(t)
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	// No polling: when up --wait returned, every worker was registered.
	if got := c.psql("SELECT count(*) FROM pg_dist_node WHERE groupid > 0 AND isactive"); strings.TrimSpace(got) != "2" {
		t.Fatalf("up --wait returned with %s active workers registered", got)
	}

	c.setSpec(strings.Replace(twoWorkers, "password: commcarehq", "password: changed-later", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, code := c.p.Run(ctx, "up", "-d", "--wait")
	if code == 0 {
		t.Fatalf("up --wait succeeded although the setup service cannot log in:\n%s", out)
	}
	if !strings.Contains(out, citus.SetupService) {
		t.Errorf("up --wait does not name the setup service:\n%s", out)
	}
	logs := c.p.Must(time.Minute, "logs", "--no-color", citus.SetupService)
	if !strings.Contains(logs, "password authentication failed") {
		t.Errorf("the setup service's log does not say why:\n%s", logs)
	}
	if strings.Contains(out+logs, "changed-later") {
		t.Errorf("the password appears in compose's output")
	}
}

// Growing and shrinking through the spec with a plain `docker compose up
// -d`, with every compose version given: the script's digest recreates the
// setup service, so the new worker is registered; a change to the script
// alone re-runs it; a worker removed from the spec is drained and removed
// with bootstrap --prune, then its container with --remove-orphans.
func TestComposeSpecChanges(t *testing.T) {
	composes := map[string]string{"plugin": ""}
	if old := os.Getenv("CITUSGEN_COMPOSE_OLD"); old != "" {
		composes["old"] = old
	} else if _, err := os.Stat("/usr/local/bin/docker-compose-2.32"); err == nil || dockertest.Required() {
		composes["old"] = "/usr/local/bin/docker-compose-2.32"
	}
	t.Parallel()
	for name, bin := range composes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dc := dockertest.Require(t, currentImage)
			if bin != "" {
				dc = dockertest.RequireCompose(t, bin)
			}
			t.Logf("compose %s", dc.Version)
			c := newComposeCluster(t, dc, twoWorkers, nil)
			c.seed("citus_worker3")
			c.render()
			c.p.Must(5*time.Minute, "up", "-d", "--wait")
			c.psql("CREATE TABLE events (id bigint PRIMARY KEY, v text); SELECT create_distributed_table('events', 'id'); INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 1000) g")

			// Add a worker: plain up -d, then wait for the setup service.
			c.setSpec(twoWorkers + thirdWorker)
			c.p.Must(5*time.Minute, "up", "-d")
			waitHealthy(t, c, citus.SetupService, 3*time.Minute)
			out := c.mustVerify()
			if !regexp.MustCompile(`(?m)^worker-registered\s+citus_worker3\s+PASS`).MatchString(out) {
				t.Fatalf("citus_worker3 is not registered:\n%s", out)
			}

			// Only the script changes (an alias is named in its comments):
			// the setup service runs again, with the new script.
			id := c.containerID(citus.SetupService)
			c.setSpec(twoWorkers + strings.Replace(thirdWorker, "citus-ucr-worker3", "citus-ucr-worker-three", 1))
			c.p.Must(5*time.Minute, "up", "-d", "--wait")
			if c.containerID(citus.SetupService) == id {
				t.Errorf("a changed script did not recreate the setup service")
			}
			script := c.p.Must(time.Minute, "exec", "-T", citus.SetupService, "cat", generator.SetupScript)
			if !strings.Contains(script, "citus-ucr-worker-three") {
				t.Errorf("the setup service runs the old script:\n%s", script)
			}

			// Remove the worker again: plan names what to run, prune drains
			// it while its container still runs, then up removes it.
			c.setSpec(twoWorkers)
			out, code := c.live("plan")
			if code != 1 || !strings.Contains(out, "--prune") {
				t.Fatalf("plan after removing a worker: exit %d\n%s", code, out)
			}
			if out, code := c.live("bootstrap", "--prune"); code != 0 {
				t.Fatalf("bootstrap --prune: exit %d\n%s", code, out)
			}
			c.p.Must(5*time.Minute, "up", "-d", "--wait", "--remove-orphans")
			c.mustVerify()
			if got := strings.TrimSpace(c.psql("SELECT count(*) FROM events")); got != "1000" {
				t.Errorf("%s rows after shrinking, want 1000", got)
			}
		})
	}
}

// password_env: without the variable every up stops naming it; with it
// the cluster comes up and the password is in no file citusgen wrote.
func TestComposePasswordEnv(t *testing.T) {
	dc := dockertest.Require(t, currentImage)
	spec := strings.Replace(twoWorkers, "password: commcarehq", "password_env: CITUS_PASSWORD", 1)
	t.Setenv("CITUS_PASSWORD", "")
	os.Unsetenv("CITUS_PASSWORD")
	c := newComposeCluster(t, dc, spec, nil)
	c.render()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, code := c.p.Run(ctx, "up", "-d", "--wait")
	if code == 0 || !strings.Contains(out, "set CITUS_PASSWORD to the cluster password") {
		t.Fatalf("up without CITUS_PASSWORD: exit %d\n%s", code, out)
	}
	if ids := c.p.Containers(); len(ids) != 0 {
		t.Errorf("containers were created without the password: %v", ids)
	}
	const pw = "from-the-env $HOME 'q'"
	c.p.Env["CITUS_PASSWORD"] = pw
	t.Setenv("CITUS_PASSWORD", pw)
	c.seed()
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	c.mustVerify()
	if out, code := c.verifyInNetwork(currentImage); code != 0 {
		t.Fatalf("verify inside the network: exit %d\n%s", code, out)
	}
	doc, _ := os.ReadFile(c.compose)
	if strings.Contains(string(doc), pw) {
		t.Errorf("the compose file holds the password")
	}
}

// down keeps the volumes; the next up brings the same cluster back, with
// its data, and registration is still complete.
// On each data layout (PostgreSQL 18's and the earlier one), no service
// mounts an anonymous volume, so a down without -v leaves none behind.
func TestComposeDownUp(t *testing.T) {
	t.Parallel()
	layouts := map[string]bool{}
	for _, image := range matrixImages() {
		if layout := dataVolumeOf(t, image); !layouts[layout] {
			layouts[layout] = true
			t.Run(image[strings.LastIndexByte(image, ':')+1:], func(t *testing.T) { downUp(t, image) })
		}
	}
}

func downUp(t *testing.T, image string) {
	t.Parallel()
	dc := dockertest.Require(t, image)
	c := newComposeCluster(t, dc, twoWorkersOn(image), nil)
	c.render()
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	c.psql("CREATE TABLE kept (id int PRIMARY KEY); SELECT create_distributed_table('kept', 'id'); INSERT INTO kept SELECT generate_series(1, 100)")
	for _, m := range c.p.VolumeMounts() {
		if m.Name != c.p.Name+"_"+m.Service {
			t.Errorf("%s mounts the volume %s at %s, not its named volume: a down without -v leaves it behind", m.Service, m.Name, m.Destination)
		}
	}
	c.p.Must(2*time.Minute, "down")
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	c.mustVerify()
	if got := strings.TrimSpace(c.psql("SELECT count(*) FROM kept")); got != "100" {
		t.Errorf("%s rows after down and up, want 100", got)
	}
	if out, code := c.live("bootstrap"); code != 0 || !strings.Contains(out, "; 0 changes applied,") {
		t.Fatalf("bootstrap after down and up: exit %d\n%s", code, out)
	}
	if t.Failed() {
		return
	}
	// The data lives where the image keeps it, in the named volume.
	if got := c.p.Must(time.Minute, "exec", "-T", c.top.Coordinator.Service, "sh", "-c", "echo $PGDATA"); !strings.HasPrefix(strings.TrimSpace(got), dataVolumeOf(t, image)) {
		t.Errorf("PGDATA %s is outside the data volume at %s", got, dataVolumeOf(t, image))
	}
}

// appCompose is an application's own compose file that includes the
// rendered one and waits for the cluster as docs/compose.md shows. web stands in
// for Django: it checks that every worker is registered when it starts, then
// stays up. It runs from image, over whose data volume it mounts a tmpfs
// (a recreated container keeps its anonymous volume past down -v).
func appCompose(t *testing.T, image string) string {
	return `include:
  - hq-compose.yml
services:
  web:
    image: ` + image + `
    command:
      - sh
      - -c
      - |
        psql -X -v ON_ERROR_STOP=1 -h citus_master -U commcarehq -d commcare_ucr_citus -At -c "SELECT 'workers: ' || 1 / (count(*) = $${WORKERS:-2})::int * count(*) FROM pg_dist_node WHERE groupid > 0 AND isactive" || exit 1
        touch /tmp/checked
        trap 'exit 0' TERM; sleep infinity & wait
    environment:
      PGPASSWORD: commcarehq
      WORKERS: ${WORKERS:-2}
    healthcheck:                # its own: healthy once its check has run
      test: [CMD, test, -f, /tmp/checked]
      interval: 1s
    tmpfs:
      - ` + dataVolumeOf(t, image) + `
    depends_on:
      citus_setup:
        condition: service_healthy
`
}

func TestComposeApplicationWaits(t *testing.T) {
	t.Parallel()
	c := seededCluster(t)
	write(t, filepath.Join(c.dir, "compose.yaml"), appCompose(t, currentImage))
	c.p.Files = []string{"compose.yaml"}
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	if logs := c.p.Must(time.Minute, "logs", "--no-color", "web"); !strings.Contains(logs, "workers: 2") {
		t.Fatalf("web did not see both workers:\n%s", logs)
	}
	// The check is real: expecting three workers fails web, and up --wait.
	c.p.Env["WORKERS"] = "3"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, code := c.p.Run(ctx, "up", "-d", "--wait", "web"); code == 0 {
		t.Fatalf("up --wait with a failing application succeeded:\n%s", out)
	}
}

// A plain foreground `docker compose up --abort-on-container-exit` keeps
// the cluster running once setup is done: the setup service stays up.
func TestComposeAbortOnContainerExit(t *testing.T) {
	t.Parallel()
	c := seededCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fg := c.p.Command(ctx, "up", "--abort-on-container-exit")
	var out strings.Builder
	fg.Stdout, fg.Stderr = &out, &out
	// Its own process group, so that Ctrl-C reaches compose as from a
	// terminal: the docker CLI and, through `docker compose`, its plugin.
	fg.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := fg.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fg.Wait() }()
	waitHealthy(t, c, citus.SetupService, 3*time.Minute)
	select {
	case err := <-done:
		t.Fatalf("docker compose up --abort-on-container-exit ended after setup (%v):\n%s", err, out.String())
	case <-time.After(10 * time.Second):
	}
	c.mustVerify()
	syscall.Kill(-fg.Process.Pid, syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		syscall.Kill(-fg.Process.Pid, syscall.SIGKILL)
		t.Fatalf("docker compose up did not end within 3 minutes of Ctrl-C:\n%s", out.String())
	}
}

// A user's compose file with services of its own, kept in sync with
// render --into: the regions run beside the user's services.
func TestComposeRenderInto(t *testing.T) {
	t.Parallel()
	dc := dockertest.Require(t, currentImage)
	c := newComposeCluster(t, dc, twoWorkers, nil)
	c.seed("citus_worker3")
	write(t, c.compose, `# the application's own file
services:
  cache:
    image: `+currentImage+`
    command: [sh, -c, "trap 'exit 0' TERM; sleep infinity & wait"]
    healthcheck:
      test: [CMD, "true"]
      interval: 1s
    volumes:
      - cache:/cache
volumes:
  cache:
`)
	if out, code := c.citusgen("render", "--into", c.compose); code != 0 {
		t.Fatalf("render --into: exit %d\n%s", code, out)
	}
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	c.mustVerify()
	if ps := c.p.Must(time.Minute, "ps", "--services", "--status", "running"); !strings.Contains(ps, "cache") {
		t.Errorf("the user's own service is not running:\n%s", ps)
	}
	// Grow through --into as well.
	write(t, c.spec, twoWorkers+thirdWorker)
	c.load()
	if out, code := c.citusgen("render", "--into", c.compose); code != 0 {
		t.Fatalf("render --into: exit %d\n%s", code, out)
	}
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	out := c.mustVerify()
	if !strings.Contains(out, "citus_worker3") {
		t.Errorf("verify does not name the new worker:\n%s", out)
	}
}

// A CommCare-HQ-style file (hand-written services on citusdata/citus:8.1.1,
// the membership manager, password-less workers, BLANK_IF_TESTS volumes):
// import its spec, move it to the setup service and passwords on every node
// as current images need, adopt the file, and run it.
func TestComposeAdoptHQFile(t *testing.T) {
	t.Parallel()
	// citusdata/citus:8.1.1 is PostgreSQL 11, which keeps its data where
	// every major before 18 does: the stand-in is one of those.
	const oldLayout = "citusdata/citus:13.2-pg15"
	dc := dockertest.Require(t, oldLayout, currentImage)
	dockertest.Tag(t, oldLayout, "citusdata/citus:8.1.1")
	src := filepath.Join("..", "golden", "import-hq-2020", "input")
	b, err := os.ReadFile(filepath.Join(src, "hq-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hq := filepath.Join(dir, "hq-compose.yml")
	write(t, hq, string(b))
	imp := exec.Command(dockertest.Citusgen(t), "import", "--compose", hq)
	var errOut strings.Builder
	imp.Stderr = &errOut
	imported, err := imp.Output()
	if err != nil {
		t.Fatalf("import: %v\n%s", err, errOut.String())
	}
	spec := string(imported)
	// What a team moving to current images changes in the imported spec.
	for old, repl := range map[string]string{
		"membership_manager: true": "membership_manager: false",
		"worker_password: false":   "worker_password: true",
	} {
		if !strings.Contains(spec, old) {
			t.Fatalf("the imported spec has no %q:\n%s", old, spec)
		}
		spec = strings.Replace(spec, old, repl, 1)
	}
	// As HQ's scripts ran it: VOLUME_PREFIX a folder, so every volume is a
	// bind mount (the file declares no named volumes).
	c := newComposeCluster(t, dc, spec, map[string]string{"VOLUME_PREFIX": t.TempDir() + "/"})
	write(t, c.compose, string(b))
	if out, code := c.citusgen("render", "--into", c.compose, "--adopt"); code != 0 {
		t.Fatalf("render --into --adopt: exit %d\n%s", code, out)
	}
	doc, _ := os.ReadFile(c.compose)
	if strings.Contains(string(doc), "membership-manager") {
		t.Errorf("the membership manager is still in the adopted file")
	}
	// The cluster's services; web, postgres and redis need images of the
	// application.
	c.p.Must(5*time.Minute, "up", "-d", "--wait", "citus_master", "citus_worker1", "citus_worker2", citus.SetupService)
	// HQ's workers publish no port: verify where HQ's Django runs. The
	// nodes run the Citus under test, not the 8.1 the file's tag names:
	// verify says so, and nothing else.
	out, code := c.verifyInNetwork(currentImage)
	image := regexp.MustCompile(`(?m)^citus-image\s+cluster\s+FAIL\s+citus_master runs citus \d+\.\d+-\d+, its image citusdata/citus:8\.1\.1 names 8\.1;`)
	if code != 1 || !image.MatchString(out) || strings.Count(out, " FAIL ") != 1 {
		t.Fatalf("verify of nodes that run another release than their tag names: exit %d\n%s", code, out)
	}
	// Naming the release they run in the topology is one of the fixes. By
	// its tag that moves the nodes from PostgreSQL 11 to 15, which --into
	// refuses; the data here is 15's (the tag was a stand-in), so the change
	// is allowed, as after an upgrade of the data.
	spec = strings.Replace(spec, "citusdata/citus:8.1.1", oldLayout, 1)
	write(t, c.spec, spec)
	if out, code := c.citusgen("render", "--into", c.compose); code != 2 {
		t.Fatalf("render --into of a change of PostgreSQL major: exit %d, want 2\n%s", code, out)
	}
	if out, code := c.citusgen("render", "--into", c.compose, "--allow-major-change"); code != 0 {
		t.Fatalf("render --into --allow-major-change: exit %d\n%s", code, out)
	}
	c.p.Must(5*time.Minute, "up", "-d", "--wait", "citus_master", "citus_worker1", "citus_worker2", citus.SetupService)
	if out, code := c.verifyInNetwork(currentImage); code != 0 {
		t.Fatalf("verify inside the network after pinning the image: exit %d\n%s", code, out)
	}
}

// Nodes on different Citus releases (13.2 and 14.0) and PostgreSQL majors
// (15 and 18): registration works, and verify fails naming each node's
// version and major and what to do, while each node runs what its own
// image names; plan lists both for a person.
func TestComposeMixedVersions(t *testing.T) {
	t.Parallel()
	// Two data layouts in one document too: PostgreSQL 18 and 15.
	const old = "citusdata/citus:13.2-pg15"
	current := currentImage
	dc := dockertest.Require(t, old, current)
	spec := "image: " + current + "\npassword: commcarehq\n" +
		"coordinator: {service: citus_master, alias: icds-ucr, port: 5600}\nworkers:\n" +
		"  - {service: citus_worker1, alias: citus-ucr-worker1, port: 5601}\n" +
		"  - {service: citus_worker2, alias: citus-ucr-worker2, port: 5602, image: \"" + old + "\"}\n"
	c := newComposeCluster(t, dc, spec, nil)
	c.seed()
	c.render()
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	out, code := c.live("verify", "--timeout", "60s")
	version := regexp.MustCompile(`(?m)^citus-version\s+cluster\s+FAIL\s+versions differ: 13\.2-1 on citus_worker2; 14\.0-1 on citus_master, citus_worker1\s*\n\s+hint: use the same image`)
	major := regexp.MustCompile(`(?m)^postgres-major\s+cluster\s+FAIL\s+PostgreSQL majors differ: 15 on citus_worker2; 18 on citus_master, citus_worker1\s*\n\s+hint: Citus needs every node of a cluster on the same PostgreSQL major`)
	if code != 1 || !version.MatchString(out) || !major.MatchString(out) || strings.Count(out, " FAIL ") != 2 ||
		!regexp.MustCompile(`(?m)^citus-image\s+cluster\s+PASS`).MatchString(out) {
		t.Fatalf("verify of mixed versions: exit %d\n%s", code, out)
	}
	if out, code := c.live("plan"); code != 1 || !strings.Contains(out, "Citus versions differ") || !strings.Contains(out, "PostgreSQL majors differ (15 on citus_worker2; 18 on citus_master, citus_worker1)") {
		t.Errorf("plan of mixed versions: exit %d\n%s", code, out)
	}
}

func write(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
