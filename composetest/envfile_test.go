package composetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/dotenv"

	"github.com/citusgen/citusgen/testsupport/dockertest"
)

// docs/password.md's way to keep password_env set for every compose command:
// the .env file `citusgen init --password-env` writes beside the compose
// file. Without it `docker compose ps` (and down -v) refuse the file; with
// it, run from another directory through -f, up, ps, logs and down -v work
// with nothing in the environment, and citusgen verify, given the
// variable as docs/password.md says (set -a; . ./.env), proves the password.
func TestComposeEnvFile(t *testing.T) {
	dc := dockertest.Require(t, currentImage)
	t.Setenv("CITUS_PASSWORD", "")
	os.Unsetenv("CITUS_PASSWORD")
	bin := dockertest.Citusgen(t)
	root := t.TempDir()
	dir := filepath.Join(root, "hq")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	citusgen := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("citusgen %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	initOut := citusgen("init", "--password-env", "CITUS_PASSWORD")
	envFile := filepath.Join(dir, ".env")
	vars, err := dotenv.Read(envFile)
	if err != nil {
		t.Fatal(err)
	}
	pw := vars["CITUS_PASSWORD"]
	if len(pw) < 32 || strings.Contains(initOut, pw) {
		t.Fatalf("init printed the password or made a short one (%d characters):\n%s", len(pw), initOut)
	}

	// The image under test, and free ports kept in the same .env (compose
	// reads them there as well).
	spec := filepath.Join(dir, "citusgen.yaml") // what init writes and every command finds
	data, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	write(t, spec, withImage(string(data)))
	ports := dockertest.FreePorts(t, 3)
	services := []string{"citus_master", "citus_worker1", "citus_worker2"}
	env, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for i, s := range services {
		env = fmt.Appendf(env, "%s_EXTERNAL_PORT=%d\n", strings.ToUpper(s), ports[i])
		nodes = append(nodes, "--node", fmt.Sprintf("%s=127.0.0.1:%d", s, ports[i]))
	}
	if err := os.WriteFile(envFile, env, 0o600); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "hq-compose.yml"), citusgen("render"))
	if doc, _ := os.ReadFile(filepath.Join(dir, "hq-compose.yml")); strings.Contains(string(doc), pw) {
		t.Fatal("the compose file holds the password")
	}

	// From the parent directory: compose finds .env beside the file.
	p := dc.NewProject(t, root, filepath.Join("hq", "hq-compose.yml"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := os.Rename(envFile, envFile+".off"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"ps"}, {"down", "-v"}} {
		if out, code := p.Run(ctx, args...); code == 0 || !strings.Contains(out, "set CITUS_PASSWORD to the cluster password") {
			t.Fatalf("compose %s without .env: exit %d, want a refusal naming CITUS_PASSWORD\n%s", args[0], code, out)
		}
	}
	if err := os.Rename(envFile+".off", envFile); err != nil {
		t.Fatal(err)
	}
	p.Must(5*time.Minute, "up", "-d", "--wait")
	if out := p.Must(time.Minute, "ps", "--format", "{{.Service}}"); strings.Fields(out) == nil || !strings.Contains(out, "citus_setup") {
		t.Fatalf("compose ps lists no setup service:\n%s", out)
	}
	p.Must(time.Minute, "logs", "--no-color", "citus_setup")

	cmd := exec.Command(bin, append([]string{"verify", "--reach", "host", "--timeout", "60s"}, nodes...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CITUS_PASSWORD="+pw) // set -a; . ./.env; set +a
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("verify with the .env's password: %v\n%s", err, out)
	}
	if strings.Contains(string(out), pw) {
		t.Fatal("verify printed the password")
	}

	p.Must(2*time.Minute, "down", "-v")
	if ids := p.Containers(); len(ids) != 0 {
		t.Errorf("containers left after down -v: %v", ids)
	}
	vols, err := exec.Command("docker", "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+p.Name).Output()
	if err != nil || strings.TrimSpace(string(vols)) != "" {
		t.Errorf("volumes left after down -v: %q (%v)", vols, err)
	}
}
