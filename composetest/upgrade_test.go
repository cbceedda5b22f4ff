package composetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/citusgen/citusgen/pgupgrade"
	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/testsupport/await"
	"github.com/citusgen/citusgen/testsupport/dockertest"
	"github.com/citusgen/citusgen/upgrade"
)

// upgradeCluster is the Quick start's cluster on image with data: a
// distributed table of 100,000 rows and a reference table.
func upgradeCluster(t testing.TB, from string, images ...string) *composeCluster {
	t.Helper()
	dc := dockertest.Require(t, append([]string{from}, images...)...)
	c := newComposeCluster(t, dc, twoWorkersOn(from), nil)
	// citusgen's own compose calls reach the project the test made.
	c.p.Env["COMPOSE_PROJECT_NAME"] = c.p.Name
	c.render()
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	c.psqlWithin(5*time.Minute, `CREATE TABLE events (id bigint PRIMARY KEY, v text);
SELECT create_distributed_table('events', 'id');
INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
CREATE TABLE kinds (id int PRIMARY KEY, name text);
SELECT create_reference_table('kinds');
INSERT INTO kinds SELECT g, 'kind ' || g FROM generate_series(1, 50) g`)
	return c
}

// checksums sums both tables' rows, through the coordinator (psql's
// warnings, such as a collation version change, left out).
func (c *composeCluster) checksums() string {
	c.t.Helper()
	out := c.psql(`SELECT (SELECT count(*) || ':' || sum(hashtext(id || v)) FROM events) || ' ' || (SELECT count(*) || ':' || sum(hashtext(id || name)) FROM kinds)`)
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" && !regexp.MustCompile(`^(WARNING|DETAIL|HINT):`).MatchString(l) {
			rows = append(rows, l)
		}
	}
	return strings.Join(rows, "\n")
}

// collationFix runs what the upgrade said to run where the C library's
// collation version changed, as a user would, and proves the warning gone.
func (c *composeCluster) collationFix(out string) {
	c.t.Helper()
	said := regexp.MustCompile(`warning: (\w+): the new image's C library .* in ([\w, ]+): indexes`).FindAllStringSubmatch(out, -1)
	if len(said) == 0 {
		c.t.Errorf("no word of the collation version change:\n%s", out)
		return
	}
	for _, m := range said {
		for _, db := range strings.Split(m[2], ", ") {
			c.p.Must(5*time.Minute, "exec", "-T", m[1], "psql", "-X", "-v", "ON_ERROR_STOP=1", "-U", c.top.User, "-d", db,
				"-c", "REINDEX DATABASE "+quote.SQLIdent(db), "-c", "SET citus.enable_ddl_propagation TO off", "-c", "ALTER DATABASE "+quote.SQLIdent(db)+" REFRESH COLLATION VERSION")
		}
	}
	if got := c.psql("SELECT 1"); strings.Contains(got, "collation version mismatch") {
		c.t.Errorf("after the fix the upgrade named, psql still warns:\n%s", got)
	}
}

// upgradeTo names image in the spec, as a user does, and runs the upgrade:
// the preview, then --apply. It returns what --apply said.
func (c *composeCluster) upgradeTo(image string, wantLegs ...string) string {
	c.t.Helper()
	write(c.t, c.spec, twoWorkersOn(image))
	c.load()
	settingsBefore, code := c.citusgen("render", "settings")
	if code != 0 {
		c.t.Fatalf("render settings: exit %d\n%s", code, settingsBefore)
	}
	preview, code := c.live("upgrade")
	if code != 0 {
		c.t.Fatalf("upgrade (the plan): exit %d\n%s", code, preview)
	}
	for _, leg := range wantLegs {
		if !strings.Contains(preview, leg) {
			c.t.Errorf("the plan does not name the leg %q:\n%s", leg, preview)
		}
	}
	c.t.Logf("plan:\n%s", preview)
	start := time.Now()
	out, code := c.live("upgrade", "--apply")
	c.t.Logf("upgrade --apply took %s:\n%s", time.Since(start).Round(time.Second), out)
	if code != 0 {
		c.t.Fatalf("upgrade --apply: exit %d\n%s", code, out)
	}
	settingsAfter, _ := c.citusgen("render", "settings")
	if settingsAfter != settingsBefore {
		c.t.Errorf("the Django settings changed:\n%s\nwas:\n%s", settingsAfter, settingsBefore)
	}
	return out
}

// afterUpgrade proves the upgraded cluster: verify passes on the spec's
// images, the data is the same, and it stays so across down and up.
func (c *composeCluster) afterUpgrade(image, before string) {
	c.t.Helper()
	c.mustVerify()
	if got := c.checksums(); got != before {
		c.t.Errorf("checksums after the upgrade: %s, before: %s", got, before)
	}
	for _, n := range c.top.Nodes() {
		if got := c.p.Must(time.Minute, "ps", "--format", "{{.Image}}", n.Service); strings.TrimSpace(got) != image {
			c.t.Errorf("%s runs %s, want %s", n.Service, got, image)
		}
	}
	c.p.Must(2*time.Minute, "down")
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	c.mustVerify()
	if got := c.checksums(); got != before {
		c.t.Errorf("checksums after down and up: %s, before: %s", got, before)
	}
}

// A Citus release on the same PostgreSQL major: 13.2 to 14.0 on 17. Then
// rollback brings 13.2 back on the data copied before, and the upgrade
// runs again and the old data is dropped.
func TestUpgradeCitusRelease(t *testing.T) {
	t.Parallel()
	const from, to = "citusdata/citus:13.2", "citusdata/citus:14.0-pg17"
	c := upgradeCluster(t, from, to)
	before := c.checksums()
	c.upgradeTo(to, "leg 1 (Citus 13.2 to 14.0 on PostgreSQL 17)")
	if got := strings.TrimSpace(c.psql("SELECT extversion FROM pg_extension WHERE extname = 'citus'")); !strings.HasPrefix(got, "14.0") {
		t.Errorf("citus extension %s after the upgrade, want 14.0", got)
	}
	c.afterUpgrade(to, before)
	if t.Failed() {
		return
	}
	out, code := c.live("upgrade", "--rollback")
	if code != 0 {
		t.Fatalf("upgrade --rollback: exit %d\n%s", code, out)
	}
	write(t, c.spec, twoWorkersOn(from))
	c.load()
	c.mustVerify()
	if got := c.checksums(); got != before {
		t.Errorf("checksums after rollback: %s, before: %s", got, before)
	}
	if _, err := os.Stat(upgrade.StatePath(c.compose)); err == nil {
		t.Errorf("rollback left its state file")
	}
	c.upgradeTo(to)
	if out, code := c.live("upgrade", "--drop-old"); code != 0 {
		t.Fatalf("upgrade --drop-old: exit %d\n%s", code, out)
	}
	if got := c.p.Must(time.Minute, "exec", "-T", "citus_master", "sh", "-c", "ls -a /var/lib/postgresql/data | grep citusgen || true"); strings.TrimSpace(got) != "" {
		t.Errorf("--drop-old left %s", got)
	}
	_ = filepath.Join
}

// Both at once: Citus 14 has no PostgreSQL 15 build, so PostgreSQL first
// (to 13.2, which is 17), then Citus (to 14.0-pg17), in one run.
func TestUpgradeBothLegs(t *testing.T) {
	t.Parallel()
	const from, to = "citusdata/citus:13.2-pg15", "citusdata/citus:14.0-pg17"
	c := upgradeCluster(t, from, to, "citusdata/citus:13.2")
	before := c.checksums()
	c.upgradeTo(to, "leg 1 (PostgreSQL 15 to 17 under Citus 13.2)", "leg 2 (Citus 13.2 to 14.0 on PostgreSQL 17)")
	c.afterUpgrade(to, before)
}

// A volume with too little space for copy mode is refused at the checks:
// nothing stops, nothing is written.
func TestUpgradeRefusesFullVolume(t *testing.T) {
	t.Parallel()
	const from, to = "citusdata/citus:13.2", "citusdata/citus:14.0-pg17"
	dc := dockertest.Require(t, from, to)
	c := newComposeCluster(t, dc, twoWorkersOn(from), nil)
	c.p.Env["COMPOSE_PROJECT_NAME"] = c.p.Name
	// The worker's volume, made before compose would: a tmpfs that holds
	// the data but not a second copy of it.
	vol := c.p.Name + "_citus_worker1"
	if out, err := exec.Command("docker", "volume", "create", "--driver", "local",
		"--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=96m",
		"--label", "com.docker.compose.project="+c.p.Name, "--label", "com.docker.compose.volume=citus_worker1", vol).CombinedOutput(); err != nil {
		t.Fatalf("docker volume create: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "volume", "rm", "-f", vol).Run() })
	c.render()
	c.p.Must(5*time.Minute, "up", "-d", "--wait")
	c.psqlWithin(5*time.Minute, `CREATE TABLE events (id bigint PRIMARY KEY, v text);
SELECT create_distributed_table('events', 'id');
INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 100000) g`)
	composeBefore, _ := os.ReadFile(c.compose)
	ids := c.p.Containers()
	write(t, c.spec, twoWorkersOn(to))
	c.load()
	out, code := c.live("upgrade", "--apply")
	if code == 0 || !regexp.MustCompile(`citus_worker1: volume \S+ has [\d.]+ MiB free, and copy mode needs about [\d.]+ MiB`).MatchString(out) || !strings.Contains(out, "nothing was stopped or written") {
		t.Fatalf("upgrade --apply on a full volume: exit %d\n%s", code, out)
	}
	if after, _ := os.ReadFile(c.compose); string(after) != string(composeBefore) {
		t.Errorf("the compose file changed")
	}
	if _, err := os.Stat(upgrade.StatePath(c.compose)); err == nil {
		t.Errorf("a refused upgrade left a state file")
	}
	if now := c.p.Containers(); strings.Join(now, " ") != strings.Join(ids, " ") {
		t.Errorf("containers changed: %v, were %v", now, ids)
	}
	write(t, c.spec, twoWorkersOn(from))
	c.load()
	c.mustVerify()
}

func (c *composeCluster) psqlWithin(timeout time.Duration, sql string) string {
	c.t.Helper()
	return c.p.Must(timeout, "exec", "-T", c.top.Coordinator.Service,
		"psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", c.top.User, "-d", c.top.ClusterDatabase(), "-c", sql)
}

// The real fault: Debian's PostgreSQL 17.12 (trixie) writes a column
// option into Citus's catalogs that 18.6 (sid) does not know, so pg_upgrade
// of 14.0-pg17 data to 14.0 fails while restoring the schema. The run
// stops before anything irreversible, names the node and PostgreSQL's
// reason, and the cluster runs on the old image again with its data.
func TestUpgradeFailureKeepsTheOldCluster(t *testing.T) {
	t.Parallel()
	const from, to = "citusdata/citus:14.0-pg17", "citusdata/citus:14.0"
	c := upgradeCluster(t, from, to)
	before := c.checksums()
	composeBefore, _ := os.ReadFile(c.compose)
	write(t, c.spec, twoWorkersOn(to))
	c.load()
	out, code := c.live("upgrade", "--apply")
	t.Logf("upgrade --apply:\n%s", out)
	if code != 1 || !regexp.MustCompile(`node citus_\w+: upgrading PostgreSQL 17 to 18: `).MatchString(out) || !strings.Contains(out, "pg_attver") ||
		!strings.Contains(out, "nothing is lost: the nodes run "+from+" again on their old data") {
		t.Fatalf("upgrade --apply: exit %d, want 1 naming the node and PostgreSQL's reason", code)
	}
	if after, _ := os.ReadFile(c.compose); string(after) != string(composeBefore) {
		t.Errorf("the compose file changed")
	}
	if _, err := os.Stat(upgrade.StatePath(c.compose)); err == nil {
		t.Errorf("a run undone by itself left its state file")
	}
	write(t, c.spec, twoWorkersOn(from))
	c.load()
	c.mustVerify()
	if got := c.checksums(); got != before {
		t.Errorf("checksums after the failed upgrade: %s, before: %s", got, before)
	}
}

// A PostgreSQL major under the same Citus release (15 to 17 under 13.2.2):
// a run whose pg_upgrade container on one worker is killed, then a run
// stopped with Ctrl-C while that worker's pg_upgrade runs again (the other
// nodes done), each finish when run again.
func TestUpgradeResumes(t *testing.T) {
	t.Parallel()
	const from, to = "citusdata/citus:13.2-pg15", "citusdata/citus:13.2"
	c := upgradeCluster(t, from, to)
	before := c.checksums()
	write(t, c.spec, twoWorkersOn(to))
	c.load()
	const worker2 = "citus_worker2: pg_upgrade from PostgreSQL 15 to 17 ..."

	// The second worker's pg_upgrade container is killed mid-way; the
	// other nodes' pg_upgrade runs finish.
	vol := c.p.Name + "_citus_worker2"
	out, code := c.upgradeUntil(worker2, func(*exec.Cmd) {
		err := await.Until(2*time.Minute, func() error {
			ids, _ := exec.Command("docker", "ps", "-q", "--filter", "label="+pgupgrade.ContainerLabel+"="+vol).Output()
			id := strings.TrimSpace(string(ids))
			if id == "" {
				return fmt.Errorf("no pg_upgrade container on %s yet", vol)
			}
			return exec.Command("docker", "kill", id).Run()
		})
		if err != nil {
			t.Error(err)
		}
	})
	if code != 1 || !strings.Contains(out, "node citus_worker2") || !strings.Contains(out, "run citusgen upgrade --apply to resume") ||
		!strings.Contains(out, "citus_worker1: pg_upgrade from PostgreSQL 15 to 17: done") {
		t.Fatalf("upgrade --apply with a killed pg_upgrade: exit %d\n%s", code, out)
	}
	// Ctrl-C while that worker's pg_upgrade runs again, the others done.
	out, code = c.upgradeUntil(worker2, func(cmd *exec.Cmd) { cmd.Process.Signal(syscall.SIGINT) })
	if code != 130 || !strings.Contains(out, "run citusgen upgrade --apply to resume") || strings.Contains(out, "citus_worker1: pg_upgrade from") {
		t.Fatalf("upgrade --apply stopped by SIGINT: exit %d\n%s", code, out)
	}
	out, code = c.live("upgrade", "--apply")
	if code != 0 || !strings.Contains(out, "resuming the upgrade to "+to) {
		t.Fatalf("upgrade --apply again: exit %d\n%s", code, out)
	}
	// The stand-ins' C libraries differ (glibc 2.36 and 2.41), as after any
	// change of base image: the upgrade says what to rebuild, and that works.
	c.collationFix(out)
	if got := strings.TrimSpace(c.psql("SELECT current_setting('server_version_num')::int / 10000")); got != "17" {
		t.Errorf("PostgreSQL %s after the upgrade, want 17", got)
	}
	c.afterUpgrade(to, before)
}

// upgradeUntil runs upgrade --apply and calls act once stderr says line.
func (c *composeCluster) upgradeUntil(line string, act func(*exec.Cmd)) (string, int) {
	c.t.Helper()
	args := append(append([]string{"-t", c.spec, "upgrade", "--reach", "host"}, c.hostNodes()...), "--apply")
	cmd := exec.Command(dockertest.Citusgen(c.t), args...)
	cmd.Dir = c.dir
	cmd.Env = os.Environ()
	for k, v := range c.p.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	w := await.NewWriter(line)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-w.Seen:
		act(cmd)
	case err := <-done:
		c.t.Fatalf("upgrade --apply ended (%v) before saying %q:\n%s", err, line, w.String())
	case <-time.After(15 * time.Minute):
		cmd.Process.Kill()
		c.t.Fatalf("upgrade --apply did not say %q within 15 minutes:\n%s", line, w.String())
	}
	err := <-done
	code := 0
	if e, ok := err.(*exec.ExitError); ok {
		code = e.ExitCode()
	}
	c.t.Logf("upgrade --apply until %q: exit %d\n%s", line, code, w.String())
	return w.String(), code
}

// The whole upgrade (checks, prepare, every step, the end's up --wait and
// verify) against its irreducible part: the nodes' pg_upgrade runs, summed,
// plus one start of the nodes, on the 100,000-row cluster moving from
// PostgreSQL 15 to 17. Target: at most 1.5x. Each part's time is read from
// the run's own progress lines (the nodes' pg_upgrade runs go at once, so
// their sum can exceed their share of the whole).
//
//	go test ./composetest -run '^$' -bench Upgrade -benchtime 1x
func BenchmarkUpgrade(b *testing.B) {
	const from, to = "citusdata/citus:13.2-pg15", "citusdata/citus:13.2"
	var whole, parts time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := upgradeCluster(b, from, to)
		write(b, c.spec, twoWorkersOn(to))
		c.load()
		b.StartTimer()
		start := time.Now()
		out, code := c.live("upgrade", "--apply")
		whole += time.Since(start)
		b.StopTimer()
		if code != 0 {
			b.Fatalf("upgrade --apply: exit %d\n%s", code, out)
		}
		for _, m := range stepTime.FindAllStringSubmatch(out, -1) {
			d, err := time.ParseDuration(m[2])
			if err != nil {
				b.Fatal(err)
			}
			parts += d
		}
		c.p.Must(2*time.Minute, "down", "-v")
	}
	b.ReportMetric(whole.Seconds()/float64(b.N), "upgrade-s")
	b.ReportMetric(parts.Seconds()/float64(b.N), "pg_upgrade+start-s")
	b.ReportMetric(whole.Seconds()/parts.Seconds(), "x-of-pg_upgrade+start")
}

// stepTime finds the pg_upgrade of each node and the start of the nodes on
// the new image in --apply's progress.
var stepTime = regexp.MustCompile(`(: pg_upgrade from PostgreSQL \d+ to \d+|starting the nodes on \S+): done \(([\dhms.]+)\)`)
