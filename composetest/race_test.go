package composetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/testsupport/dockertest"
)

// The setup service's script and citusgen bootstrap run at the same time,
// in either order, round after round, on nodes that lost their extension
// and registrations (citusgen reset): both create the extension on every
// node, store the credentials and register the workers. Neither may fail
// for the other: the setup service ends healthy (never exits 1), up --wait
// succeeds, bootstrap reports complete, verify passes.
func TestComposeSetupRacesBootstrap(t *testing.T) {
	t.Parallel()
	c := seededCluster(t)
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	// Before the step lock 3 to 6 of 4 to 6 rounds failed: 4 (2 in each
	// order) catch a regression without costing every run minutes.
	const rounds = 4
	for round := 1; round <= rounds; round++ {
		setupFirst := round%2 == 1
		// The drift: every node's cluster database empty again.
		out, code := c.live("reset", "--yes", "--wait", "60s")
		if code != 0 {
			t.Fatalf("round %d: reset: exit %d\n%s", round, code, out)
		}
		if setupFirst {
			// restart returns once the container runs: its script starts
			// as bootstrap does.
			c.p.Must(2*time.Minute, "restart", citus.SetupService)
			out, code = c.live("bootstrap", "--wait", "60s")
		} else {
			out, code = c.bootstrapDuring(func() { c.p.Must(2*time.Minute, "restart", citus.SetupService) })
		}
		if code != 0 || !strings.Contains(out, "bootstrap complete: 3 nodes match the topology") {
			t.Errorf("round %d (setup first: %v): bootstrap: exit %d\n%s", round, setupFirst, code, out)
		}
		if i := strings.Index(out, "bootstrap complete:"); i >= 0 {
			t.Logf("round %d (setup first: %v): %s", round, setupFirst, strings.SplitN(out[i:], "\n", 2)[0])
		}
		waitHealthy(t, c, citus.SetupService, 3*time.Minute)
		c.p.Must(5*time.Minute, "up", "-d", "--wait")
		c.mustVerify()
		if t.Failed() {
			return
		}
	}
}

// bootstrapDuring starts citusgen bootstrap from the host, runs during once
// bootstrap has said its first line (it is connecting), and returns
// bootstrap's output and exit code.
func (c *composeCluster) bootstrapDuring(during func()) (string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append(append([]string{"-t", c.spec, "bootstrap", "--reach", "host"}, c.hostNodes()...), "--wait", "60s")
	cmd := exec.CommandContext(ctx, dockertest.Citusgen(c.t), args...)
	cmd.Dir = c.dir
	cmd.Env = os.Environ()
	for k, v := range c.p.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	pw.Close()
	var out strings.Builder
	lines := bufio.NewScanner(pr)
	if lines.Scan() {
		fmt.Fprintln(&out, lines.Text())
	}
	during()
	for lines.Scan() {
		fmt.Fprintln(&out, lines.Text())
	}
	pr.Close()
	return out.String(), exitCode(c.t, cmd.Wait())
}

// A service named with one letter: compose would read its short-syntax
// volume c:/var/lib/postgresql as a Windows drive and up fail ("mount path
// must be absolute"); in the long syntax it is the node's named volume.
// The nodes start fresh: seeded data comes through a VOLUME_PREFIX path,
// a bind mount, which the long syntax (always a named volume) is not.
func TestComposeOneLetterServices(t *testing.T) {
	t.Parallel()
	dc := dockertest.Require(t, currentImage)
	c := newComposeCluster(t, dc, "image: "+currentImage+"\npassword: commcarehq\n"+
		"coordinator: {service: c, alias: c, port: 5600}\nworkers: [{service: w, alias: w, port: 5601}]\n", nil)
	c.render()
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	c.mustVerify()
	for _, m := range c.p.VolumeMounts() {
		if m.Service != citus.SetupService && (m.Name != c.p.Name+"_"+m.Service || m.Destination != dataVolumeOf(t, currentImage)) {
			t.Errorf("%s mounts the volume %s at %s, not its named volume at the data directory", m.Service, m.Name, m.Destination)
		}
	}
}
