package composerun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// What the citus image does, from citusdata/docker's Dockerfile and the
// postgres image's docker-entrypoint.sh it builds on:
//   - PGDATA is /var/lib/postgresql/data; on first start (no PG_VERSION) the
//     entrypoint refuses to go on without POSTGRES_PASSWORD unless
//     POSTGRES_HOST_AUTH_METHOD is trust, runs initdb with POSTGRES_USER and
//     that password, and appends "host all all all <method>" (scram-sha-256
//     by default) to pg_hba.conf; initdb's own lines trust local and loopback
//     connections;
//   - the sample configuration listens on '*' and has
//     shared_preload_libraries='citus';
//   - a temporary server without TCP creates POSTGRES_DB (when it is not
//     "postgres") and runs /docker-entrypoint-initdb.d, where the citus image
//     puts "CREATE EXTENSION citus" (and a docker flag in the node metadata)
//     in POSTGRES_DB; then the real server starts on port 5432;
//   - PGPASSWORD stays in the server's environment (the citus image deletes
//     the entrypoint's "unset PGPASSWORD"), for connections to other nodes;
//   - the stop signal is SIGINT.
//
// Differences, all outside what the compose document controls: the
// PostgreSQL and Citus builds are this machine's; locale C instead of
// en_US.utf8; the Unix socket lives in the container's run directory, since
// /var/run/postgresql is shared by every namespace here; fsync is off.
const (
	imagePGDATA  = "/var/lib/postgresql/data"
	imagePort    = 5432
	citusInitSQL = `BEGIN;
CREATE EXTENSION citus;
UPDATE pg_dist_node_metadata SET metadata = jsonb_insert(metadata, '{docker}', 'true');
COMMIT;
`
)

// ensureRunning starts the container's server unless it runs already:
// first-start initialisation of an empty data directory, then PostgreSQL in
// the container's namespace and the published ports.
func (c *container) ensureRunning(ctx context.Context) error {
	c.mu.Lock()
	running := c.proc != nil
	c.mu.Unlock()
	if running {
		return nil
	}
	dir := filepath.Join(c.h.base, "containers", c.name)
	pgdata, err := c.dataDir()
	if err != nil {
		return err
	}
	for _, d := range []string{dir, pgdata} {
		// Parents stay traversable for the server's user; the directories
		// themselves are its own, 0700 as initdb wants.
		if err := os.MkdirAll(filepath.Dir(d), 0o755); err != nil {
			return err
		}
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if err := os.Chown(d, int(c.h.owner.Uid), int(c.h.owner.Gid)); err != nil {
			return err
		}
	}
	env := append(append([]string{}, c.env...), "HOME="+dir, "PGDATA="+pgdata)
	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initialise(env, dir, pgdata); err != nil {
			return fmt.Errorf("initialising %s: %w", c.name, err)
		}
	}
	log, err := c.logFile()
	if err != nil {
		return err
	}
	uid, gid := strconv.Itoa(int(c.h.owner.Uid)), strconv.Itoa(int(c.h.owner.Gid))
	cmd := exec.Command("ip", "netns", "exec", c.ns, "setpriv", "--reuid="+uid, "--regid="+gid, "--clear-groups", "--",
		filepath.Join(c.h.bin, "postgres"), "-D", pgdata, "-c", "unix_socket_directories="+dir)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(exited)
	}()
	c.mu.Lock()
	c.proc, c.exited = cmd, exited
	c.mu.Unlock()
	for _, p := range c.svc.Ports {
		published, err := strconv.Atoi(p.Published)
		if err != nil || p.Published == "" {
			continue // no host port: reachable inside the network only
		}
		f, err := c.h.net.publish(published, c.ip+":"+strconv.Itoa(int(p.Target)))
		if err != nil {
			c.stop()
			return fmt.Errorf("%s: %w (Bind for 0.0.0.0:%d failed: port is already allocated?)", c.name, err, published)
		}
		c.mu.Lock()
		c.forwards = append(c.forwards, f)
		c.mu.Unlock()
	}
	return nil
}

// dataDir is where the volume mounted at PGDATA lives: a named volume under
// the harness, a bind mount's host path as it is, or, with no volume, the
// container's own layer.
func (c *container) dataDir() (string, error) {
	for _, v := range c.svc.Volumes {
		if v.Target != imagePGDATA {
			continue
		}
		switch v.Type {
		case "volume":
			return filepath.Join(c.h.base, "volumes", v.Source, "data"), nil
		case "bind":
			return v.Source, nil
		}
		return "", fmt.Errorf("%s: volume type %s at %s is not supported by the harness", c.name, v.Type, v.Target)
	}
	return filepath.Join(c.h.base, "containers", c.name, "layer", "data"), nil
}

// initialise does what the entrypoint does on an empty data directory.
func (c *container) initialise(env []string, dir, pgdata string) error {
	user := c.envValue("POSTGRES_USER")
	if user == "" {
		user = "postgres"
	}
	password := c.envValue("POSTGRES_PASSWORD")
	method := c.envValue("POSTGRES_HOST_AUTH_METHOD")
	if method == "" {
		method = "scram-sha-256"
	}
	if password == "" && method != "trust" {
		return errors.New("Database is uninitialized and superuser password is not specified. You must specify POSTGRES_PASSWORD to a non-empty value for the superuser (the postgres image's refusal)")
	}
	args := []string{"-D", pgdata, "--username=" + user, "-E", "UTF8", "--locale=C", "--no-sync"}
	if password != "" {
		pwfile := filepath.Join(dir, "pwfile")
		if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
			return err
		}
		defer os.Remove(pwfile)
		if err := os.Chown(pwfile, int(c.h.owner.Uid), int(c.h.owner.Gid)); err != nil {
			return err
		}
		args = append(args, "--pwfile="+pwfile)
	}
	args = append(args, strings.Fields(c.envValue("POSTGRES_INITDB_ARGS"))...)
	if err := c.h.run(env, "initdb", args...); err != nil {
		return err
	}
	if err := appendFile(filepath.Join(pgdata, "pg_hba.conf"), "\nhost all all all "+method+"\n"); err != nil {
		return err
	}
	conf := fmt.Sprintf("\n# the citus image's sample configuration\nlisten_addresses = '*'\nshared_preload_libraries = 'citus'\n"+
		"# the harness: fast and small\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 32MB\nmax_connections = 60\nport = %d\n", imagePort)
	if err := appendFile(filepath.Join(pgdata, "postgresql.conf"), conf); err != nil {
		return err
	}
	// The temporary server listens on no TCP address.
	if err := c.h.run(env, "pg_ctl", "-D", pgdata, "-w", "-t", "60", "-l", filepath.Join(dir, "init.log"),
		"-o", "-c listen_addresses='' -c unix_socket_directories="+dir, "start"); err != nil {
		return err
	}
	defer func() { _ = c.h.run(env, "pg_ctl", "-D", pgdata, "-m", "fast", "-w", "stop") }()
	// Scripts go through files, not -c: psql substitutes :"db" only there.
	psql := func(db, name, sql string, extra ...string) error {
		script := filepath.Join(dir, name)
		if err := os.WriteFile(script, []byte(sql), 0o644); err != nil {
			return err
		}
		args := append([]string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", dir, "-p", strconv.Itoa(imagePort),
			"--username", user, "--no-password", "--dbname", db, "-f", script}, extra...)
		return c.h.run(env, "psql", args...)
	}
	db := c.envValue("POSTGRES_DB")
	if db == "" {
		db = user
	}
	if db != "postgres" {
		if err := psql("postgres", "create-db.sql", "CREATE DATABASE :\"db\";\n", "--set", "db="+db); err != nil {
			return err
		}
	}
	return psql(db, "001-create-citus-extension.sql", citusInitSQL)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(text)
	if err := f.Close(); werr == nil {
		werr = err
	}
	return werr
}

// Running reports whether a service's server is up (for tests).
func (h *Harness) Running(service string) bool {
	h.mu.Lock()
	c, ok := h.containers[service]
	h.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case <-c.exitedChan():
		return false
	default:
		return true
	}
}
