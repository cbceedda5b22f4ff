// Package pgtest starts real, throw-away PostgreSQL servers for tests:
// initdb + pg_ctl in a temporary directory, listening on a free loopback
// port, with password authentication on TCP. When the tests run as root
// (as CI does) the server runs as the unprivileged "postgres" OS user,
// because PostgreSQL refuses to run as root.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/quote"
)

// TB is what the helpers need from a test: testing.TB has it, and so does
// the adapter the CLI's testscript commands use.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skip(args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
	FailNow()
}

// Options describe one server.
type Options struct {
	User     string // superuser created by initdb; "commcarehq" when empty
	Password string // password for TCP connections; empty means trust
	// Citus preloads the citus library (shared_preload_libraries), which
	// CREATE EXTENSION citus needs. Start skips the test when Citus is not
	// installed; check CitusAvailable first to decide instead.
	Citus bool
	// Env is added to the server's environment, as a compose document's
	// environment reaches the postgres process (PGPASSWORD, for instance,
	// which libpq inside the server uses for Citus's own connections).
	Env []string
	// Listen is the one address the server listens on; 127.0.0.1 when
	// empty (::1 or 127.0.0.2, for a server a connection to 127.0.0.1
	// does not reach).
	Listen string
	// DataSize, when set ("80m"), puts the data directory on a tmpfs of
	// that size, so the server runs out of space as a small volume does.
	// Mounting needs root; the test skips without it.
	DataSize string
}

// Server is a running PostgreSQL server.
type Server struct {
	Host     string
	Port     int
	User     string
	Password string
	Dir      string // data directory ("" for a server in a container)
	Citus    bool

	container string   // with ImageEnv: the server's container
	env       []string // Options.Env
	tb        TB
	stopped   bool
	mu        sync.Mutex
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// BinDir finds the PostgreSQL server binaries: $PG_BINDIR, then the newest
// /usr/lib/postgresql/*/bin, then initdb on PATH.
func BinDir() (string, error) {
	binOnce.Do(func() {
		if d := os.Getenv("PG_BINDIR"); d != "" {
			binDir = d
			return
		}
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				binDir = d
				return
			}
		}
		p, err := exec.LookPath("initdb")
		if err != nil {
			binErr = errors.New("no PostgreSQL server binaries: install postgresql-15 or set PG_BINDIR")
			return
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			real = p
		}
		binDir = filepath.Dir(real)
	})
	return binDir, binErr
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// CitusAvailable reports whether the citus extension is installed for the
// server binaries, and if not, why.
func CitusAvailable() (bool, string) {
	if img := Image(); img != "" {
		return imageAvailable(img)
	}
	dir, err := BinDir()
	if err != nil {
		return false, err.Error()
	}
	out, err := exec.Command(filepath.Join(dir, "pg_config"), "--sharedir", "--pkglibdir").Output()
	if err != nil {
		return false, "pg_config failed: " + err.Error()
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		return false, "pg_config gave no share and lib directories"
	}
	control := filepath.Join(lines[0], "extension", "citus.control")
	lib := filepath.Join(lines[1], "citus.so")
	for _, f := range []string{control, lib} {
		if _, err := os.Stat(f); err != nil {
			return false, "the citus extension is not installed for these PostgreSQL binaries (" + f + " is missing)"
		}
	}
	return true, ""
}

// RequireEnv names the variable under which a test that would skip for lack
// of Citus (or of what the compose harness needs) fails instead: CI sets it,
// so a missing install step cannot pass as a green run of skipped tests.
const RequireEnv = "CITUSGEN_REQUIRE_CITUS"

// Required reports whether CITUSGEN_REQUIRE_CITUS=1 is set.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// SkipUnavailable skips the test with the reason, or fails it with the same
// reason under CITUSGEN_REQUIRE_CITUS=1.
func SkipUnavailable(tb TB, format string, args ...any) {
	tb.Helper()
	if Required() {
		tb.Fatalf(format+" ("+RequireEnv+"=1 makes this a failure)", args...)
	}
	tb.Skipf(format, args...)
}

// ShortSkip is why a test that needs Citus or Docker skips under -short
// (make quick): the quick run is everything else.
const ShortSkip = "-short (make quick) runs only what needs neither Citus nor Docker; make test runs this"

// RequireCitus skips the test, saying why, when Citus is not installed
// (fails it under CITUSGEN_REQUIRE_CITUS=1).
func RequireCitus(tb TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip(ShortSkip)
	}
	if ok, why := CitusAvailable(); !ok {
		SkipUnavailable(tb, "needs Citus: %s", why)
	}
}

// Start initialises and starts a server; it is stopped and removed when the
// test ends.
func Start(tb TB, opts Options) *Server {
	tb.Helper()
	if opts.User == "" {
		opts.User = "commcarehq"
	}
	if Image() != "" {
		if testing.Short() {
			tb.Skip(ShortSkip)
		}
		return startContainer(tb, opts)
	}
	dir, err := BinDir()
	if err != nil {
		SkipUnavailable(tb, "%v", err)
	}
	if opts.Citus {
		RequireCitus(tb)
	}
	owner, err := serverOwner()
	if err != nil {
		tb.Fatal(err)
	}
	base, err := os.MkdirTemp("", "citusgen-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1"
	}
	s := &Server{Host: opts.Listen, User: opts.User, Password: opts.Password, Dir: filepath.Join(base, "data"), Citus: opts.Citus, env: opts.Env, tb: tb}
	mounted := false
	tb.Cleanup(func() {
		s.Stop()
		if mounted {
			// The server has stopped: nothing holds the mount.
			// The server's children may still be exiting after an
			// immediate stop: retry while the mount is busy, for a while.
			var out []byte
			var err error
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				if out, err = exec.Command("umount", s.Dir).CombinedOutput(); err == nil || time.Now().After(deadline) || !strings.Contains(string(out), "busy") {
					break
				}
			}
			if err != nil {
				// Detach it anyway, so no mount outlives the test.
				lazy, _ := exec.Command("umount", "-l", s.Dir).CombinedOutput()
				tb.Fatalf("umount %s: %v: %s %s", s.Dir, err, out, lazy)
			}
		}
		os.RemoveAll(base)
	})
	if err := os.Chmod(base, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := chown(base, owner); err != nil {
		tb.Fatal(err)
	}
	if opts.DataSize != "" {
		if os.Geteuid() != 0 {
			SkipUnavailable(tb, "a data directory of %s needs a tmpfs mount, which needs root", opts.DataSize)
		}
		if err := os.Mkdir(s.Dir, 0o700); err != nil {
			tb.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+opts.DataSize+",mode=0700", "tmpfs", s.Dir).CombinedOutput(); err != nil {
			tb.Fatalf("mount a tmpfs of %s: %v: %s", opts.DataSize, err, out)
		}
		mounted = true
		if err := chown(s.Dir, owner); err != nil {
			tb.Fatal(err)
		}
	}

	args := []string{"-D", s.Dir, "-U", opts.User, "-E", "UTF8", "--locale=C", "--no-sync", "--auth-local=trust"}
	if opts.Password != "" {
		pw := filepath.Join(base, "pwfile")
		if err := os.WriteFile(pw, []byte(opts.Password+"\n"), 0o600); err != nil {
			tb.Fatal(err)
		}
		if err := chown(pw, owner); err != nil {
			tb.Fatal(err)
		}
		args = append(args, "--pwfile="+pw, "--auth-host=scram-sha-256")
	} else {
		args = append(args, "--auth-host=trust")
	}
	if out, err := run(owner, base, nil, filepath.Join(dir, "initdb"), args...); err != nil {
		tb.Fatalf("initdb failed: %v\n%s", err, out)
	}
	if ip := net.ParseIP(opts.Listen); ip != nil && !ip.Equal(net.IPv4(127, 0, 0, 1)) && !ip.Equal(net.IPv6loopback) {
		// initdb's pg_hba.conf lets in 127.0.0.1 and ::1 only.
		method := "trust"
		if opts.Password != "" {
			method = "scram-sha-256"
		}
		f, err := os.OpenFile(filepath.Join(s.Dir, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			tb.Fatal(err)
		}
		bits := 32
		if ip.To4() == nil {
			bits = 128
		}
		_, err = fmt.Fprintf(f, "host all all %s/%d %s\n", opts.Listen, bits, method)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	// Port races with other processes are possible between picking and
	// binding; a few attempts make them harmless.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			tb.Fatal(err)
		}
		s.Port = port
		if err := s.writeConfig(opts); err != nil {
			tb.Fatal(err)
		}
		if lastErr = s.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(base, "server.log")); lastErr == nil {
			s.mu.Lock()
			s.stopped = false
			s.mu.Unlock()
			return s
		}
		log, _ := os.ReadFile(filepath.Join(base, "server.log"))
		if !strings.Contains(string(log), "could not bind") && !strings.Contains(string(log), "Address already in use") {
			tb.Fatalf("pg_ctl start failed: %v\n%s", lastErr, log)
		}
	}
	tb.Fatalf("pg_ctl start failed after retries: %v", lastErr)
	return nil
}

func (s *Server) writeConfig(opts Options) error {
	conf := fmt.Sprintf(`
listen_addresses = '%s'
port = %d
unix_socket_directories = '%s'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 60
shared_buffers = 32MB
`, s.Host, s.Port, s.Dir)
	if opts.Citus {
		conf += "shared_preload_libraries = 'citus'\n"
	}
	// citusgen-test.conf is rewritten on each attempt; postgresql.conf includes it.
	f := filepath.Join(s.Dir, "citusgen-test.conf")
	if err := os.WriteFile(f, []byte(conf), 0o644); err != nil {
		return err
	}
	main := filepath.Join(s.Dir, "postgresql.conf")
	b, err := os.ReadFile(main)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), "include 'citusgen-test.conf'") {
		b = append(b, []byte("\ninclude 'citusgen-test.conf'\n")...)
		return os.WriteFile(main, b, 0o600)
	}
	return nil
}

func (s *Server) pgctl(args ...string) error {
	dir, _ := BinDir()
	owner, err := serverOwner()
	if err != nil {
		return err
	}
	out, err := run(owner, filepath.Dir(s.Dir), s.env, filepath.Join(dir, "pg_ctl"), append([]string{"-D", s.Dir}, args...)...)
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// Stop stops the server immediately; it can be started again with Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	if s.container != "" {
		s.stopContainer()
		return
	}
	_ = s.pgctl("stop", "-m", "immediate", "-w", "-t", "30")
}

// Restart starts a stopped server again on the same port.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		return
	}
	if s.container != "" {
		if err := s.restartContainer(); err != nil {
			s.tb.Fatalf("restart: %v", err)
		}
		s.stopped = false
		return
	}
	if err := s.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(filepath.Dir(s.Dir), "server.log")); err != nil {
		s.tb.Fatalf("restart: %v", err)
	}
	s.stopped = false
}

// DSN is a libpq connection string for a database on this server.
func (s *Server) DSN(database string) string {
	dsn := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable connect_timeout=10", s.Host, s.Port, s.User, database)
	if s.Password != "" {
		dsn += " password=" + quote.ConninfoValue(s.Password)
	}
	return dsn
}

// Connect opens a connection to a database on this server, closed at the end
// of the test.
func (s *Server) Connect(tb TB, database string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN(database))
	if err != nil {
		tb.Fatalf("connect to %s:%d/%s: %v", s.Host, s.Port, database, err)
	}
	tb.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// Exec runs SQL on a database of this server, failing the test on error.
func (s *Server) Exec(tb TB, database, sql string, args ...any) {
	tb.Helper()
	c := s.Connect(tb, database)
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	c.Close(context.Background())
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// serverOwner is the OS user the server runs as: nil for the current user,
// the "postgres" user when running as root.
func serverOwner() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("running as root, and PostgreSQL refuses to: create a 'postgres' OS user (the postgresql package does) or run the tests as another user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func chown(path string, owner *syscall.Credential) error {
	if owner == nil {
		return nil
	}
	return os.Chown(path, int(owner.Uid), int(owner.Gid))
}

// run starts a server program with HOME set to the server's own directory:
// libpq inside the server (Citus's inter-node connections) reads
// ~/.postgresql and ~/.pgpass, and the caller's HOME may be unreadable to it.
func run(owner *syscall.Credential, home string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = os.TempDir()
	cmd.Env = append(append(os.Environ(), env...), "LC_ALL=C", "HOME="+home)
	if owner != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: owner}
	}
	return cmd.CombinedOutput()
}

// StopBackend stops one backend of the server (SIGSTOP), as a machine too
// busy to schedule it would: it neither answers nor exits when it is
// ended. The returned resume continues it; it also runs when the test ends.
func (s *Server) StopBackend(tb TB, pid int) (resume func()) {
	tb.Helper()
	signal := func(sig string) error {
		if s.container != "" {
			return exec.Command("docker", "exec", s.container, "sh", "-c", "kill -"+sig+" "+strconv.Itoa(pid)).Run()
		}
		if sig == "STOP" {
			return syscall.Kill(pid, syscall.SIGSTOP)
		}
		return syscall.Kill(pid, syscall.SIGCONT)
	}
	if err := signal("STOP"); err != nil {
		tb.Fatalf("stop backend %d: %v", pid, err)
	}
	var once sync.Once
	resume = func() { once.Do(func() { signal("CONT") }) }
	tb.Cleanup(resume)
	return resume
}

// Freeze stops every process of the server where it stands (SIGSTOP of the
// postmaster and its backends; docker pause for a container), as a hung
// host would: connections are still accepted by the kernel, and nothing
// answers. thaw resumes them; it also runs when the test ends.
func (s *Server) Freeze(tb TB) (thaw func()) {
	tb.Helper()
	var once sync.Once
	if s.container != "" {
		if out, err := exec.Command("docker", "pause", s.container).CombinedOutput(); err != nil {
			tb.Fatalf("docker pause: %v: %s", err, out)
		}
		thaw = func() { once.Do(func() { exec.Command("docker", "unpause", s.container).Run() }) }
		tb.Cleanup(thaw)
		return thaw
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, "postmaster.pid"))
	if err != nil {
		tb.Fatal(err)
	}
	postmaster, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		tb.Fatalf("postmaster.pid: %v", err)
	}
	// The postmaster first, so it forks no backend while its children stop.
	pids := []int{postmaster}
	syscall.Kill(postmaster, syscall.SIGSTOP)
	stat, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stat {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so after the last ')'.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(postmaster) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			syscall.Kill(pid, syscall.SIGSTOP)
			pids = append(pids, pid)
		}
	}
	thaw = func() {
		once.Do(func() {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGCONT)
			}
		})
	}
	tb.Cleanup(thaw)
	return thaw
}
