package pgtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Cluster is a coordinator and its workers, each its own server.
type Cluster struct {
	Coordinator *Server
	Workers     []*Server
}

// StartCluster starts a coordinator and n workers, in parallel.
func StartCluster(tb TB, workers int, opts Options) *Cluster {
	tb.Helper()
	servers := make([]*Server, workers+1)
	var wg sync.WaitGroup
	for i := range servers {
		// A failing Start ends its goroutine (FailNow); the nil check below stops the test.
		wg.Go(func() { servers[i] = Start(tb, opts) })
	}
	wg.Wait()
	for _, s := range servers {
		if s == nil {
			tb.FailNow() // Start reported why
		}
	}
	return &Cluster{Coordinator: servers[0], Workers: servers[1:]}
}

// Servers returns the coordinator followed by the workers.
func (c *Cluster) Servers() []*Server { return append([]*Server{c.Coordinator}, c.Workers...) }

// Spec is a topology for this cluster: Django (and citusgen) reach every
// node on 127.0.0.1 at its own port, and nodes register each other the same
// way (node_name), since there is no compose network. extra is appended as
// top-level YAML.
func (c *Cluster) Spec(extra string) []byte {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	fmt.Fprintf(&b, "user: %s\n", c.Coordinator.User)
	if img := SpecImage(); img != "" && !regexp.MustCompile(`(?m)^image:`).MatchString(extra) {
		// What the servers run, so verify finds the release the spec names.
		fmt.Fprintf(&b, "image: %s\n", img)
	}
	switch {
	case strings.Contains(extra, "password_env:"):
	case c.Coordinator.Password != "":
		fmt.Fprintf(&b, "password: %s\n", q(c.Coordinator.Password))
	default:
		b.WriteString("trust_authentication: true\n")
	}
	fmt.Fprintf(&b, "django: {host: 127.0.0.1}\n")
	fmt.Fprintf(&b, "coordinator: {service: coordinator, alias: coordinator, port: %d, node_name: '127.0.0.1:%d'}\nworkers:\n", c.Coordinator.Port, c.Coordinator.Port)
	for i, w := range c.Workers {
		fmt.Fprintf(&b, "  - {service: worker%d, alias: worker%d, port: %d, node_name: '127.0.0.1:%d'}\n", i+1, i+1, w.Port, w.Port)
	}
	b.WriteString(extra)
	return []byte(b.String())
}

// Psql runs a psql script file against this server's maintenance database,
// with the password in PGPASSWORD; it returns the combined output.
func (s *Server) Psql(tb TB, script string, env ...string) (string, error) {
	tb.Helper()
	bin, err := exec.LookPath("psql")
	if err != nil {
		dir, _ := BinDir()
		bin = filepath.Join(dir, "psql")
	}
	cmd := exec.Command(bin, "-X", "-q", "-h", s.Host, "-p", fmt.Sprint(s.Port), "-U", s.User, "-d", "postgres", "-f", script)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+s.Password, "PGCONNECT_TIMEOUT=10", "PGSSLMODE=disable")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// PrependHBA puts line first in the server's pg_hba.conf and reloads the
// configuration; restore puts the file's rules back. It works over SQL
// (the server writes its own file), so it serves a server in a container
// too. Comments and blank lines of the file are not kept.
func (s *Server) PrependHBA(tb TB, line string) (restore func()) {
	tb.Helper()
	ctx := context.Background()
	c := s.Connect(tb, "postgres")
	var file, content string
	if err := c.QueryRow(ctx, "SELECT current_setting('hba_file'), pg_read_file(current_setting('hba_file'))").Scan(&file, &content); err != nil {
		tb.Fatalf("reading pg_hba.conf: %v", err)
	}
	var rules []string
	for _, l := range strings.Split(content, "\n") {
		if l = strings.TrimSpace(strings.ReplaceAll(l, "\t", " ")); l != "" && !strings.HasPrefix(l, "#") {
			rules = append(rules, l)
		}
	}
	write := func(lines []string) {
		tb.Helper()
		stmts := []string{
			"DROP TABLE IF EXISTS pg_temp.hba",
			"CREATE TEMP TABLE hba (n serial, line text)",
			"INSERT INTO hba (line) SELECT unnest($1::text[])",
			"COPY (SELECT line FROM hba ORDER BY n) TO '" + strings.ReplaceAll(file, "'", "''") + "'",
			"SELECT pg_reload_conf()",
		}
		for _, q := range stmts {
			var args []any
			if strings.Contains(q, "$1") {
				args = append(args, lines)
			}
			if _, err := c.Exec(ctx, q, args...); err != nil {
				tb.Fatalf("writing pg_hba.conf: %s: %v", q, err)
			}
		}
	}
	write(append([]string{line}, rules...))
	return func() { write(rules) }
}
