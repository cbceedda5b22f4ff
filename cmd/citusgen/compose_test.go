package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/internal/composerun"
)

// composeCase is a golden topology whose rendered compose document the
// harness runs.
type composeCase struct {
	name string
	env  map[string]string // the shell's environment: interpolation and citusgen
}

// These tests execute what `citusgen render` writes, the way docker compose
// would: every node of the document starts as a real PostgreSQL server with
// Citus in its own network namespace, healthchecks and the setup service run
// verbatim, and then citusgen verify checks the result from the host
// (published ports) and from inside the network (service names).
func TestComposeUpRegistersCluster(t *testing.T) {
	for _, c := range []composeCase{
		{name: "default"},
		{name: "django-in-network"},
		{name: "four-workers-custom"},
		{name: "password-env", env: map[string]string{"CITUS_PASSWORD": `s3cr'et "pw" \ $x`}},
		{name: "ci-profile"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := composerun.New(t)
			spec := filepath.Join("..", "..", "golden", c.name, "topology.yaml")
			doc := renderFile(t, spec)
			up(t, h, doc, c.env)
			for _, reach := range []string{composerun.HostNS, composerun.AppNS} {
				where, flag := reach, "host"
				if reach == composerun.AppNS {
					flag = "network"
				}
				out, code := citusgen(t, h, where, c.env, "-t", absPath(t, spec), "verify", "--reach", flag, "--timeout", "60s")
				if code != 0 {
					t.Fatalf("verify --reach %s: exit %d\n%s", flag, code, out)
				}
				if c.env["CITUS_PASSWORD"] != "" && strings.Contains(out, c.env["CITUS_PASSWORD"]) {
					t.Errorf("verify printed the password")
				}
			}
			// What the setup service did is complete: bootstrap from the host
			// finds nothing to change.
			out, code := citusgen(t, h, composerun.HostNS, c.env, "-t", absPath(t, spec), "bootstrap", "--reach", "host", "--wait", "30s")
			if code != 0 || !strings.Contains(out, "; 0 changes applied,") {
				t.Fatalf("bootstrap after the setup service: exit %d\n%s", code, out)
			}
		})
	}
}

// An application's own compose file: web stands in for Django and starts
// only once the setup service has registered the workers, as the README
// shows. It fails unless every worker is registered when it runs.
const appCompose = `services:
  web:
    image: citusdata/citus:13.2
    command: [psql, "-X", "-v", "ON_ERROR_STOP=1", "-h", citus_master, "-U", commcarehq, "-d", commcare_ucr_citus,
      "-c", "SELECT 1 / (count(*) = ${WORKERS})::int FROM pg_dist_node WHERE groupid > 0 AND isactive"]
    environment:
      PGPASSWORD: commcarehq
    depends_on:
      citus_setup:
        condition: service_completed_successfully
`

// The life of a compose cluster: the application starts after the setup
// service, a stopped worker is caught, and a worker added to the topology
// joins on the next `docker compose up`.
func TestComposeStopAndGrow(t *testing.T) {
	h := composerun.New(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "citusgen.yaml")
	compose := filepath.Join(dir, "hq-compose.yml")
	base := "password: commcarehq\ncoordinator: {service: citus_master, alias: icds-ucr, port: 5600}\nworkers:\n" +
		"  - {service: citus_worker1, alias: citus-ucr-worker1, port: 5601}\n" +
		"  - {service: citus_worker2, alias: citus-ucr-worker2, port: 5602}\n"
	write(t, spec, base)
	write(t, compose, appCompose)
	up(t, h, renderInto(t, spec, compose), map[string]string{"WORKERS": "2"})
	if !strings.Contains(h.Logs("web"), "(1 row)") {
		t.Errorf("web did not query the registered cluster:\n%s", h.Logs("web"))
	}
	if out, code := citusgen(t, h, composerun.HostNS, nil, "-t", spec, "verify"); code != 0 {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}

	// A stopped worker stays active in pg_dist_node; verify still sees it.
	if err := h.Stop("citus_worker2"); err != nil {
		t.Fatal(err)
	}
	out, code := citusgen(t, h, composerun.HostNS, nil, "-t", spec, "verify", "--timeout", "30s")
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

	// The application's check is real: expecting three workers of a
	// two-worker cluster fails it, and up reports that.
	p, err := generator.LoadCompose(context.Background(), generator.ComposeFile, renderInto(t, spec, compose), map[string]string{"WORKERS": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Up(context.Background(), p); err == nil || !strings.Contains(err.Error(), "service web: exited with 1") {
		t.Fatalf("up with a failing application: %v", err)
	}

	// One more worker in the spec; up starts it, restarts what changed and
	// runs the setup service again, which registers it.
	write(t, spec, base+"  - {service: citus_worker3, alias: citus-ucr-worker3, port: 5603}\n")
	up(t, h, renderInto(t, spec, compose), map[string]string{"WORKERS": "3"})
	out, code = citusgen(t, h, composerun.HostNS, nil, "-t", spec, "verify", "--json")
	if code != 0 {
		t.Fatalf("verify after adding a worker: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, `"name": "worker-registered",
      "node": "citus_worker3",
      "status": "pass"`) {
		t.Errorf("citus_worker3 is not registered:\n%s", out)
	}
}

func renderFile(t *testing.T, spec string) []byte {
	t.Helper()
	code, out, errOut := runCLI(t, nil, "-t", spec, "render")
	if code != 0 {
		t.Fatalf("render: exit %d: %s", code, errOut)
	}
	return []byte(out)
}

// renderInto updates the managed regions of an application's compose file.
func renderInto(t *testing.T, spec, compose string) []byte {
	t.Helper()
	code, _, errOut := runCLI(t, nil, "-t", spec, "render", "--into", compose)
	if code != 0 {
		t.Fatalf("render --into: exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(compose)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// up loads the document as docker compose would (the shell's environment
// interpolated) and runs it.
func up(t *testing.T, h *composerun.Harness, doc []byte, env map[string]string) *types.Project {
	t.Helper()
	p, err := generator.LoadCompose(context.Background(), generator.ComposeFile, doc, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := h.Up(ctx, p); err != nil {
		t.Fatalf("up: %v", err)
	}
	return p
}

// citusgen runs the built command in one of the harness's namespaces.
func citusgen(t *testing.T, h *composerun.Harness, where string, env map[string]string, args ...string) (string, int) {
	t.Helper()
	bin, err := exec.LookPath("citusgen")
	if err != nil {
		t.Fatalf("the citusgen command is not on PATH (testscript puts it there): %v", err)
	}
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, code, err := h.Exec(ctx, where, envList, append([]string{bin}, args...)...)
	if err != nil {
		t.Fatalf("citusgen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out, code
}

func absPath(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
