package pgupgrade

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/testsupport/dockertest"
)

const (
	img15    = "citusdata/citus:13.2-pg15"
	img17    = "citusdata/citus:13.2"
	img17c14 = "citusdata/citus:14.0-pg17"
	img18    = "citusdata/citus:14.0"
	password = "s3cret-pw"
)

func unique(prefix string) string {
	var b [4]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// node is a container of a citus image on a volume and network of the test's.
type node struct {
	t         *testing.T
	network   string
	volume    string
	container string
}

func newNetwork(t *testing.T) string {
	name := unique("citusgen-pgup-net-")
	docker(t, "network", "create", name)
	t.Cleanup(func() { exec.Command("docker", "network", "rm", name).Run() })
	return name
}

func newVolume(t *testing.T) string {
	name := unique("citusgen-pgup-vol-")
	docker(t, "volume", "create", name)
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "volume", "rm", "-f", name).CombinedOutput(); err != nil {
			t.Errorf("removing volume %s: %v %s", name, err, out)
		}
	})
	return name
}

// start runs image on the node's volume and waits until it answers on TCP.
func (n *node) start(image string, major int) {
	t := n.t
	t.Helper()
	n.container = unique("citusgen-pgup-node-")
	name := n.container
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", "--tail", "30", name).CombinedOutput()
			t.Logf("logs of %s:\n%s", name, out)
		}
		exec.Command("docker", "rm", "-fv", name).Run()
	})
	docker(t, "run", "-d", "--name", name, "--network", n.network, "-e", "POSTGRES_PASSWORD="+password,
		"--mount", "type=volume,src="+n.volume+",dst="+citus.DataVolume(major), image)
	deadline := time.Now().Add(10 * time.Minute) // a first start on a loaded machine
	for {
		// The first start's temporary server listens on the socket only:
		// TCP answers once the real server runs.
		if exec.Command("docker", "exec", name, "pg_isready", "-q", "-h", "127.0.0.1", "-U", "postgres").Run() == nil {
			return
		}
		state, _ := exec.Command("docker", "inspect", "-f", "{{.State.Running}}", name).Output()
		if strings.TrimSpace(string(state)) != "true" || time.Now().After(deadline) {
			out, _ := exec.Command("docker", "logs", "--tail", "30", name).CombinedOutput()
			t.Fatalf("%s on %s did not come up:\n%s", image, n.volume, out)
		}
		time.Sleep(200 * time.Millisecond) // polling a condition, not a fixed wait
	}
}

func (n *node) stop() {
	n.t.Helper()
	docker(n.t, "stop", "-t", "60", n.container)
	docker(n.t, "rm", "-v", n.container)
}

func (n *node) psql(sql string, env ...string) (string, error) {
	args := []string{"exec"}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	args = append(args, n.container, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres", "-Atc", sql)
	// stdout only: after a change of C library PostgreSQL warns of the
	// collation version on every connection.
	var stderr strings.Builder
	cmd := exec.Command("docker", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return strings.TrimSpace(string(out) + "\n" + stderr.String()), err
	}
	return strings.TrimSpace(string(out)), nil
}

func (n *node) sql(sql string) string {
	n.t.Helper()
	out, err := n.psql(sql)
	if err != nil {
		n.t.Fatalf("%s: %v\n%s", sql, err, out)
	}
	return out
}

const checksumSQL = `SELECT (SELECT md5(string_agg(d::text, ',' ORDER BY id)) FROM dist d) || ' ' ||
	(SELECT md5(string_agg(r::text, ',' ORDER BY id)) FROM ref r) || ' ' || (SELECT count(*) FROM dist)`

func (n *node) fill() string {
	n.sql(`SELECT citus_set_coordinator_host('localhost')`)
	n.sql(`SELECT citus_set_node_property('localhost', 5432, 'shouldhaveshards', true)`)
	n.sql(`CREATE TABLE dist (id bigint PRIMARY KEY, v text, at timestamptz DEFAULT '2026-01-01')`)
	n.sql(`SELECT create_distributed_table('dist', 'id')`)
	n.sql(`INSERT INTO dist (id, v) SELECT i, md5(i::text) FROM generate_series(1, 100000) i`)
	n.sql(`CREATE TABLE ref (id int PRIMARY KEY, name text)`)
	n.sql(`SELECT create_reference_table('ref')`)
	n.sql(`INSERT INTO ref SELECT i, 'r' || i FROM generate_series(1, 100) i`)
	return n.sql(checksumSQL)
}

// verify checks what must survive: the rows, ssl on, password auth over TCP.
func (n *node) verify(want string) {
	t := n.t
	t.Helper()
	if got := n.sql(checksumSQL); got != want {
		t.Errorf("checksums after: %s, want %s", got, want)
	}
	if got := n.sql(`SHOW ssl`); got != "on" {
		t.Errorf("ssl = %s, want on", got)
	}
	ip := docker(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", n.container)
	conn := "host=" + ip + " user=postgres dbname=postgres sslmode=require"
	out, err := exec.Command("docker", "exec", "-e", "PGPASSWORD="+password, n.container, "psql", "-X", "-Atc",
		"SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", conn).Output()
	if err != nil || strings.TrimSpace(string(out)) != "t" {
		t.Errorf("password over TCP with TLS: %v %s", err, out)
	}
	out, err = exec.Command("docker", "exec", "-e", "PGPASSWORD=wrong", n.container, "psql", "-X", "-Atc", "SELECT 1", conn).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "password authentication failed") {
		t.Errorf("a wrong password over TCP: %v %s", err, out)
	}
}

func (n *node) initSettings(major int) InitSettings {
	t := n.t
	t.Helper()
	f := strings.Split(n.sql(InitQuery(major)), "|")
	if len(f) != 8 {
		t.Fatalf("InitQuery gave %q", f)
	}
	wal, _ := strconv.Atoi(f[7])
	return InitSettings{Encoding: f[0], Collate: f[1], Ctype: f[2], Provider: f[3], ICULocale: f[4], BuiltinLocale: f[5],
		DataChecksums: f[6] == "on", WALSegmentMB: wal >> 20}
}

func copyVolume(t *testing.T, image, from string) string {
	to := newVolume(t)
	docker(t, "run", "--rm", "--entrypoint", "cp", "-v", from+":/from:ro", "-v", to+":/to", image, "-a", "/from/.", "/to/")
	return to
}

func twoMajors(t *testing.T, oldImage, newImage string, oldMajor, newMajor int) string {
	t.Helper()
	dockertest.Require(t, oldImage, newImage)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tag, err := Image(ctx, oldImage, newImage, oldMajor, newMajor)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// stepTimes is a progress func that logs how long each step took.
func stepTimes(t *testing.T, what string) func(string) {
	var last string
	var at time.Time
	return func(step string) {
		if last != "" {
			t.Logf("%s: %q took %s", what, last, time.Since(at).Round(100*time.Millisecond))
		}
		last, at = step, time.Now()
	}
}

func timed(t *testing.T, what string, f func() error) error {
	start := time.Now()
	err := f()
	t.Logf("%s took %s", what, time.Since(start).Round(100*time.Millisecond))
	return err
}

// PostgreSQL 15 to 17 under Citus 13.2.2, both with the data at the volume
// root: the live check passes, the upgrade keeps every row, TLS and
// password auth; a rollback after success gives the old server its data
// back; a run killed in the middle of pg_upgrade finishes when run again.
func TestUpgrade15To17(t *testing.T) {
	image := twoMajors(t, img15, img17, 15, 17)
	ctx := context.Background()
	old := &node{t: t, network: newNetwork(t), volume: newVolume(t)}
	old.start(img15, 15)
	want := old.fill()
	old.sql(`SELECT citus_prepare_pg_upgrade()`)
	n := Node{Name: "coordinator", Volume: old.volume, OldMajor: 15, NewMajor: 17, User: "postgres",
		Init: old.initSettings(15), Network: old.network, Host: old.container, Port: 5432, Password: password}
	if err := timed(t, "Check 15 to 17", func() error { return Check(ctx, image, n) }); err != nil {
		t.Fatal(err)
	}
	if err := Upgrade(ctx, image, n, nil); err == nil || !strings.Contains(err.Error(), "node coordinator: container "+old.container+" runs on volume") {
		t.Errorf("Upgrade of a running node: %v", err)
	}
	old.stop()
	killed := copyVolume(t, img15, old.volume)

	need, free, err := Space(ctx, image, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("copy mode needs %d bytes, %d free", need, free)
	if need < 10<<20 || free < need {
		t.Errorf("Space: need %d, free %d", need, free)
	}
	if err := timed(t, "Upgrade 15 to 17 (copy)", func() error {
		return Upgrade(ctx, image, n, stepTimes(t, "15 to 17"))
	}); err != nil {
		t.Fatal(err)
	}
	startUpgraded(t, old.network, old.volume, img17, 17, want)

	// Rollback after success (copy mode): the old server gets its data back.
	for range 2 { // safe to rerun
		if err := Rollback(ctx, image, n); err != nil {
			t.Fatal(err)
		}
	}
	back := &node{t: t, network: old.network, volume: old.volume}
	back.start(img15, 15)
	back.verify(want)
	back.stop()

	// Killed in the middle of pg_upgrade, then run again.
	n.Volume = killed
	ctxKill, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	inPgUpgrade := make(chan struct{})
	go func() {
		done <- Upgrade(ctxKill, image, n, func(s string) {
			if strings.HasPrefix(s, "pg_upgrade ") {
				close(inPgUpgrade)
			}
		})
	}()
	<-inPgUpgrade
	// Kill once pg_upgrade has a server of its own running (it is
	// restoring or copying), not before it started.
	id := ""
	for deadline := time.Now().Add(2 * time.Minute); ; {
		id = docker(t, "ps", "-q", "--filter", "label="+ContainerLabel+"="+killed)
		if id != "" && exec.Command("docker", "exec", id, "pgrep", "-x", "postgres").Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pg_upgrade started no server")
		}
		time.Sleep(50 * time.Millisecond) // polling a condition
	}
	docker(t, "kill", id)
	if err := <-done; err == nil || Refused(err) {
		t.Fatalf("Upgrade whose container was killed: %v (Refused %v)", err, Refused(err))
	} else {
		t.Logf("killed: %v", err)
	}
	if err := timed(t, "Upgrade 15 to 17 rerun after a kill", func() error { return Upgrade(ctx, image, n, stepTimes(t, "rerun")) }); err != nil {
		t.Fatal(err)
	}
	startUpgraded(t, old.network, killed, img17, 17, want)
	if err := DropOld(ctx, image, n); err != nil {
		t.Fatal(err)
	}
	if err := Rollback(ctx, image, n); err == nil || !strings.Contains(err.Error(), "no kept PostgreSQL 15 data") {
		t.Errorf("Rollback after DropOld: %v", err)
	}
}

// ls lists the volume's root, as a one-off container sees it.
func ls(t *testing.T, volume string) string {
	return docker(t, "run", "--rm", "-e", "LC_ALL=C", "--entrypoint", "ls", "-v", volume+":/v:ro", img18, "-A", "/v")
}

// PostgreSQL 17 to 18 under Citus 14.0.1: trixie's 17.12 writes a column
// option (pg_attver) into Citus's catalogs that sid's 18.6 does not know, so
// pg_upgrade fails while restoring the schema: the error names the node and
// PostgreSQL's reason, and Rollback gives the old image its data back.
func TestUpgrade17To18FailsAndRollsBack(t *testing.T) {
	image := twoMajors(t, img17c14, img18, 17, 18)
	ctx := context.Background()
	old := &node{t: t, network: newNetwork(t), volume: newVolume(t)}
	old.start(img17c14, 17)
	want := old.fill()
	old.sql(`SELECT citus_prepare_pg_upgrade()`)
	n := Node{Name: "worker-1", Volume: old.volume, OldMajor: 17, NewMajor: 18, User: "postgres",
		Init: old.initSettings(17), Network: old.network, Host: old.container, Port: 5432, Password: password}
	// pg_upgrade --check passes here (seen: the fault is in the restore of
	// the schema, which the check does not do); not repeated, to save time.
	old.stop()
	err := timed(t, "Upgrade 17 to 18 (copy, fails)", func() error { return Upgrade(ctx, image, n, stepTimes(t, "17 to 18")) })
	if err == nil {
		t.Fatal("Upgrade 17 to 18 succeeded; the skew of the stand-in builds should make it fail")
	}
	t.Logf("Upgrade: %v", err)
	for _, want := range []string{"node worker-1: upgrading PostgreSQL 17 to 18:", `ERROR:  unrecognized parameter "pg_attver"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q", want)
		}
	}
	if !Refused(err) {
		t.Error("PostgreSQL's refusal is not Refused")
	}
	if got := ls(t, old.volume); got != ".citusgen-upgrade\n18" {
		t.Errorf("volume after the failure:\n%s", got)
	}
	if err := Rollback(ctx, image, n); err != nil {
		t.Fatal(err)
	}
	if got := ls(t, old.volume); strings.Contains(got, Stash) || strings.Contains(got, "18") || !strings.Contains(got, "PG_VERSION") {
		t.Errorf("volume after the rollback:\n%s", got)
	}
	back := &node{t: t, network: old.network, volume: old.volume}
	back.start(img17c14, 17)
	back.verify(want)
}

// The layout move on a Citus node in link mode: PostgreSQL 17's data at the
// volume root becomes 18's in 18/docker, which the 18 image starts on;
// the old data waits in the stash until DropOld; a finished link-mode
// upgrade refuses Rollback. The stand-ins' 17.12 writes pg_attver on every
// column, which 18.6 refuses (the test above); the published images'
// PGDG builds do not, so this test clears it first, as they would have it.
func TestLayoutMove17To18Link(t *testing.T) {
	image := twoMajors(t, img17c14, img18, 17, 18)
	ctx := context.Background()
	old := &node{t: t, network: newNetwork(t), volume: newVolume(t)}
	old.start(img17c14, 17)
	want := old.fill()
	old.sql(`SELECT citus_prepare_pg_upgrade()`)
	for _, db := range []string{"postgres", "template1"} {
		out, err := exec.Command("docker", "exec", old.container, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", db, "-Atc",
			`UPDATE pg_attribute SET attoptions = NULL WHERE attrelid >= 16384 AND attoptions::text LIKE '%pg_attver%'`).CombinedOutput()
		if err != nil {
			t.Fatalf("clearing pg_attver in %s: %v %s", db, err, out)
		}
	}
	n := Node{Name: "coordinator", Volume: old.volume, OldMajor: 17, NewMajor: 18, User: "postgres",
		Init: old.initSettings(17), Link: true}
	old.stop()
	need, free, err := Space(ctx, image, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("link mode needs %d bytes, %d free", need, free)
	if need > 200<<20 || free < need {
		t.Errorf("link mode: need %d bytes, free %d", need, free)
	}
	if err := timed(t, "Upgrade 17 to 18 (link)", func() error { return Upgrade(ctx, image, n, stepTimes(t, "17 to 18 link")) }); err != nil {
		t.Fatal(err)
	}
	if got := ls(t, old.volume); got != ".citusgen-upgrade\n18" {
		t.Errorf("volume after the upgrade:\n%s", got)
	}
	if err := Upgrade(ctx, image, n, nil); err != nil { // a rerun of a finished one
		t.Fatal(err)
	}
	startUpgraded(t, old.network, old.volume, img18, 18, want)
	if err := Rollback(ctx, image, n); err == nil || !strings.Contains(err.Error(), "link mode") {
		t.Errorf("Rollback of a finished link-mode upgrade: %v", err)
	}
	if err := DropOld(ctx, image, n); err != nil {
		t.Fatal(err)
	}
	if got := ls(t, old.volume); got != "18" {
		t.Errorf("volume after DropOld:\n%s", got)
	}
}

func TestValidate(t *testing.T) {
	good := Node{Name: "w1", Volume: "proj_w1-data", OldMajor: 17, NewMajor: 18, User: "postgres",
		Init: InitSettings{Encoding: "UTF8", Collate: "en_US.utf8", Ctype: "en_US.utf8", Provider: "libc"}}
	if err := good.validate(false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		change func(*Node)
		want   string
	}{
		{func(n *Node) { n.User = "x'; rm -rf /" }, `node w1: superuser "x'; rm -rf /" is not a user name`},
		{func(n *Node) { n.Volume = "-v" }, `volume "-v" is not a docker volume name`},
		{func(n *Node) { n.NewMajor = 17 }, "PostgreSQL 17 to 17 is not an upgrade"},
		{func(n *Node) { n.Init.Collate = "$(id)" }, `lc_collate "$(id)" is not a locale name`},
		{func(n *Node) { n.Init.Provider = "c" }, `locale provider "c" is not libc, icu or builtin`},
		{func(n *Node) { n.Init.WALSegmentMB = 3 }, "WAL segment size 3 MB"},
	} {
		n := good
		c.change(&n)
		if err := n.validate(false); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	if err := good.validate(true); err == nil || !strings.Contains(err.Error(), "the live check needs a docker network") {
		t.Errorf("live check without a network: %v", err)
	}
}

// startUpgraded starts image on an upgraded volume, runs Citus's finish
// step first, and proves the major and the data, then stops it.
func startUpgraded(t *testing.T, network, volume, image string, major int, want string) {
	t.Helper()
	n := &node{t: t, network: network, volume: volume}
	n.start(image, major)
	n.sql(`SELECT citus_finish_pg_upgrade()`)
	if v := n.sql(`SHOW server_version_num`); !strings.HasPrefix(v, strconv.Itoa(major)) {
		t.Errorf("server_version_num %s after the upgrade, want PostgreSQL %d", v, major)
	}
	n.verify(want)
	n.stop()
}
