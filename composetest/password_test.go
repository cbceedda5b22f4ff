package composetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/testsupport/dockertest"
)

// Changing the password of a running compose cluster that holds a
// distributed table, twice. First as issue 32 met it: the spec's inline
// password changed, the file was rendered and `up -d --wait` failed (the
// nodes keep the password their volumes have; citus_setup is refused);
// citusgen password, with the old one in $CITUSGEN_OLD_PASSWORD, changes
// every node and the settings (the setup service's log names it), and
// `up -d --wait` then succeeds. Then
// with password_env kept in .env: the new one in the environment,
// the old one in .env, which citusgen password rewrites; `up -d --wait`
// (compose reading .env) succeeds. Each time verify passes and every row
// is there, and neither password is in any output.
func TestComposePasswordChange(t *testing.T) {
	t.Parallel()
	dc := dockertest.Require(t, currentImage)
	first := strings.Replace(twoWorkers, "password: commcarehq", "password: first-pw-0", 1)
	c := newComposeCluster(t, dc, first, nil)
	c.seed()
	c.render()
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	// psql with room for a machine under load (the helper allows a minute).
	psql := func(sql string) string {
		t.Helper()
		return c.p.Must(5*time.Minute, "exec", "-T", c.top.Coordinator.Service,
			"psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", c.top.User, "-d", c.top.ClusterDatabase(), "-c", sql)
	}
	psql("CREATE TABLE events (id bigint PRIMARY KEY, v text); SELECT create_distributed_table('events', 'id'); INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 1000) g")
	settings := filepath.Join(c.dir, "localsettings.py")
	if out, code := c.citusgen("render", "settings", "--into", settings); code != 0 {
		t.Fatalf("render settings --into: exit %d\n%s", code, out)
	}
	var outputs strings.Builder
	rowsAndVerify := func() {
		t.Helper()
		outputs.WriteString(c.mustVerify())
		if got := strings.TrimSpace(psql("SELECT count(*), sum(length(v)) FROM events")); got != "1000|32000" {
			t.Errorf("rows after the change: %s, want 1000|32000", got)
		}
	}

	const pw1 = `rotated-1 "q" #x`
	c.setSpec(strings.Replace(first, "password: first-pw-0", `password: 'rotated-1 "q" #x'`, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, code := c.p.Run(ctx, "up", "-d", "--wait")
	outputs.WriteString(out)
	if code == 0 || !strings.Contains(out, citus.SetupService) {
		t.Fatalf("up --wait with the new password before citusgen password: exit %d\n%s", code, out)
	}
	// Where the failure sends the user: the setup service's log.
	logs := c.p.Must(time.Minute, "logs", "--no-color", citus.SetupService)
	outputs.WriteString(logs)
	if !strings.Contains(logs, "password authentication failed") || !strings.Contains(logs, "run citusgen password (citusgen help password)") {
		t.Errorf("the setup service's log does not name citusgen password:\n%s", logs)
	}
	c.p.Env[OldPasswordEnv] = "first-pw-0"
	out, code = c.live("password", "--compose", c.compose, "--settings", settings)
	delete(c.p.Env, OldPasswordEnv)
	outputs.WriteString(out)
	if code != 0 || strings.Count(out, ": has the old password ($CITUSGEN_OLD_PASSWORD); setting the new one") != 3 ||
		!strings.Contains(out, "citusgen: updated the citusgen region of "+settings) {
		t.Fatalf("citusgen password (inline): exit %d\n%s", code, out)
	}
	if data, _ := os.ReadFile(settings); !strings.Contains(string(data), `'PASSWORD': 'rotated-1 "q" #x'`) {
		t.Errorf("the settings do not have the new password:\n%s", data)
	}
	outputs.WriteString(c.p.Must(5*time.Minute, "up", "-d", "--wait"))
	rowsAndVerify()

	// password_env, kept in .env beside the compose file, which compose
	// reads; the new password reaches citusgen alone, through its
	// environment.
	const pw2 = "rotated-2 'q' $HOME"
	envFile := filepath.Join(c.dir, ".env")
	write(t, envFile, "# kept\nCITUS_PASSWORD='"+pw1+"'\n")
	c.setSpec(strings.Replace(first, "password: first-pw-0", "password_env: CITUS_PASSWORD", 1))
	cmd := exec.CommandContext(ctx, dockertest.Citusgen(t), append([]string{"-t", c.spec, "password", "--compose", c.compose, "--reach", "host"}, c.hostNodes()...)...)
	cmd.Dir = c.dir
	cmd.Env = os.Environ()
	for k, v := range c.p.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "CITUS_PASSWORD="+pw2)
	b, err := cmd.CombinedOutput()
	out = string(b)
	outputs.WriteString(out)
	if err != nil || strings.Count(out, ": has the old password ("+envFile+"); setting the new one") != 3 ||
		!strings.Contains(out, "citusgen: "+envFile+" sets CITUS_PASSWORD to the new password now") {
		t.Fatalf("citusgen password (password_env): %v\n%s", err, out)
	}
	if data, _ := os.ReadFile(envFile); string(data) != "# kept\nCITUS_PASSWORD='rotated-2 \\'q\\' $HOME'\n" {
		t.Errorf(".env after: %q", data)
	}
	outputs.WriteString(c.p.Must(5*time.Minute, "up", "-d", "--wait")) // compose reads the password from .env
	c.p.Env["CITUS_PASSWORD"] = pw2                                    // set -a; . ./.env; set +a, for verify
	rowsAndVerify()
	outputs.WriteString(c.p.Must(time.Minute, "logs", "--no-color", citus.SetupService))

	for _, pw := range []string{"first-pw-0", pw1, pw2} {
		if strings.Contains(outputs.String(), pw) {
			t.Errorf("the password %q is in the output of citusgen or compose:\n%s", pw, outputs.String())
		}
	}
}

// OldPasswordEnv is where citusgen password reads the old password.
const OldPasswordEnv = "CITUSGEN_OLD_PASSWORD"
