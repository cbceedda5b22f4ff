// Package composerun executes what a compose document says, without a
// Docker engine, for tests: it loads the document with compose-go and runs
// each service of a citus image the way that image would, as a real
// PostgreSQL server with Citus, in a network namespace of its own on a
// bridge, reachable by its service name on the container port and from the
// "host" namespace on its published ports. Healthchecks and one-shot
// commands run verbatim from the compose model (argv, environment,
// configs), inside the container's namespace.
//
// What it cannot show: image pulls, the images' own file systems and users,
// and Docker's networking code (its DNS server, iptables, docker-proxy);
// the kernel's namespaces, bridge and /etc/hosts stand in for them.
package composerun

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/citusgen/citusgen/internal/pgtest"
)

// Harness runs the services of compose documents; Up may be called again
// with a changed document, as `docker compose up -d` would be.
type Harness struct {
	tb    pgtest.TB
	base  string // volumes, run directories, logs
	net   *network
	owner *syscall.Credential // servers run as this user (postgres when root)
	bin   string              // PostgreSQL binaries

	mu         sync.Mutex
	containers map[string]*container
}

// New checks that the harness can run here (root for namespaces, ip,
// setpriv, PostgreSQL with Citus), skipping the test with the reason
// otherwise (failing it under CITUSGEN_REQUIRE_CITUS=1), and sets up an
// empty network. Everything is torn down when the test ends.
func New(tb pgtest.TB) *Harness {
	tb.Helper()
	if os.Geteuid() != 0 {
		pgtest.SkipUnavailable(tb, "the compose harness needs root for network namespaces (ip netns)")
	}
	for _, tool := range []string{"ip", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			pgtest.SkipUnavailable(tb, "the compose harness needs %s (Debian packages iproute2, util-linux)", tool)
		}
	}
	bin, err := pgtest.BinDir()
	if err != nil {
		pgtest.SkipUnavailable(tb, "%v", err)
	}
	pgtest.RequireCitus(tb)
	u, err := user.Lookup("postgres")
	if err != nil {
		tb.Fatal("the compose harness runs servers as the postgres OS user, which does not exist: create it (the postgresql package does)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	base, err := os.MkdirTemp("", "citusgen-compose-")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		tb.Fatal(err)
	}
	n, err := newNetwork()
	if err != nil {
		os.RemoveAll(base)
		pgtest.SkipUnavailable(tb, "network namespaces do not work here: %v", err)
	}
	h := &Harness{tb: tb, base: base, net: n, owner: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, bin: bin, containers: map[string]*container{}}
	tb.Cleanup(h.close)
	return h
}

func (h *Harness) close() {
	h.mu.Lock()
	cs := make([]*container, 0, len(h.containers))
	for _, c := range h.containers {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(c.stop)
	}
	wg.Wait()
	h.net.close()
	os.RemoveAll(h.base)
}

// Namespaces where commands can run besides the containers.
const (
	// HostNS is the machine docker runs on: published ports, no service names.
	HostNS = "host"
	// AppNS is an application container on the compose network (Django with
	// reaches: network): service names and container ports. Its name is
	// unlikely to be a service's.
	AppNS = "harness-app"
)

// Exec runs argv in the host namespace, the app namespace or a service's
// container namespace, with env added to a minimal environment, and returns
// its combined output and exit status.
func (h *Harness) Exec(ctx context.Context, where string, env []string, argv ...string) (string, int, error) {
	ns, err := h.namespace(where)
	if err != nil {
		return "", -1, err
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Env = append(baseEnv(h.bin), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode(), nil
	}
	if err != nil {
		return string(out), -1, err
	}
	return string(out), 0, nil
}

func (h *Harness) namespace(where string) (string, error) {
	switch where {
	case HostNS:
		return h.net.host, nil
	case AppNS:
		ns, _, err := h.net.attach(AppNS)
		return ns, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.containers[where]; ok {
		return c.ns, nil
	}
	return "", fmt.Errorf("composerun: no container for service %q", where)
}

func baseEnv(bin string) []string {
	return []string{"PATH=" + bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
}

// Stop stops a service's container (docker compose stop SERVICE): its
// server gets the image's stop signal and its published ports close.
func (h *Harness) Stop(service string) error {
	h.mu.Lock()
	c, ok := h.containers[service]
	h.mu.Unlock()
	if !ok {
		return fmt.Errorf("composerun: no container for service %q", service)
	}
	c.stop()
	return nil
}

// Logs returns what a service's container printed.
func (h *Harness) Logs(service string) string {
	b, _ := os.ReadFile(filepath.Join(h.base, "logs", service+".log"))
	return string(b)
}

// Up brings the project to its declared state, as `docker compose up -d`
// does: services start once their depends_on conditions hold (in parallel
// otherwise); a running service whose configuration changed is recreated
// with its volumes; an unchanged one is left alone; one-shot services run
// to completion. It returns when every service is running or done, with an
// error naming each service that failed.
func (h *Harness) Up(ctx context.Context, p *types.Project) error {
	if err := checkAcyclic(p); err != nil {
		return err
	}
	type state struct {
		started, healthy, done chan struct{}
		err                    error
		exit                   int
	}
	states := map[string]*state{}
	for name := range p.Services {
		states[name] = &state{started: make(chan struct{}), healthy: make(chan struct{}), done: make(chan struct{})}
	}
	wait := func(svc, dep string, cond string) error {
		st, ok := states[dep]
		if !ok {
			return fmt.Errorf("%s depends on %s, which the document does not define", svc, dep)
		}
		var ch chan struct{}
		switch cond {
		case types.ServiceConditionHealthy:
			ch = st.healthy
		case types.ServiceConditionCompletedSuccessfully:
			ch = st.done
		default:
			ch = st.started
		}
		select {
		case <-ch:
		case <-st.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		switch {
		case st.err != nil:
			return fmt.Errorf("dependency failed to start: %s: %v", dep, st.err)
		case cond == types.ServiceConditionCompletedSuccessfully && st.exit != 0:
			return fmt.Errorf("service %q didn't complete successfully: exit %d", dep, st.exit)
		}
		return nil
	}
	var wg sync.WaitGroup
	for name, svc := range p.Services {
		st := states[name]
		wg.Go(func() {
			defer close(st.done)
			fail := func(err error) {
				st.err = err
				select {
				case <-st.started:
				default:
					close(st.started)
				}
			}
			for dep, d := range svc.DependsOn {
				if err := wait(name, dep, d.Condition); err != nil {
					fail(err)
					return
				}
			}
			c, err := h.container(p, svc)
			if err != nil {
				fail(err)
				return
			}
			if !c.server {
				close(st.started)
				st.exit, st.err = c.runOnce(ctx)
				if st.err == nil && st.exit != 0 {
					st.err = fmt.Errorf("exited with %d:\n%s", st.exit, tail(h.Logs(name), 30))
				}
				return
			}
			if err := c.ensureRunning(ctx); err != nil {
				fail(err)
				return
			}
			close(st.started)
			if err := c.waitHealthy(ctx); err != nil {
				st.err = err
				return
			}
			close(st.healthy)
			// done stays open for servers until this goroutine returns;
			// dependents wait on healthy or started, not on done.
		})
	}
	wg.Wait()
	var errs []error
	for name := range p.Services {
		if st := states[name]; st.err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", name, st.err))
		}
	}
	return errors.Join(errs...)
}

func checkAcyclic(p *types.Project) error {
	const (
		visiting = 1
		visited  = 2
	)
	mark := map[string]int{}
	var visit func(string, []string) error
	visit = func(s string, path []string) error {
		switch mark[s] {
		case visiting:
			return fmt.Errorf("dependency cycle: %s", strings.Join(append(path, s), " -> "))
		case visited:
			return nil
		}
		mark[s] = visiting
		for dep := range p.Services[s].DependsOn {
			if err := visit(dep, append(path, s)); err != nil {
				return err
			}
		}
		mark[s] = visited
		return nil
	}
	for s := range p.Services {
		if err := visit(s, nil); err != nil {
			return err
		}
	}
	return nil
}

// container is what docker would create for a service.
type container struct {
	h      *Harness
	name   string
	svc    types.ServiceConfig
	hash   string
	server bool // the image's entrypoint starts PostgreSQL
	env    []string
	config map[string]string // config target -> content

	ns, ip string

	mu       sync.Mutex
	proc     *exec.Cmd
	exited   chan struct{}
	forwards []*forward
}

// container returns the service's container, recreating it (same volumes
// and network address) when its configuration changed.
func (h *Harness) container(p *types.Project, svc types.ServiceConfig) (*container, error) {
	if !isCitusImage(svc.Image) {
		return nil, fmt.Errorf("image %s: the harness runs only citus images (PostgreSQL with Citus)", svc.Image)
	}
	configs := map[string]string{}
	for _, ref := range svc.Configs {
		cfg, ok := p.Configs[ref.Source]
		if !ok {
			return nil, fmt.Errorf("config %s is not defined", ref.Source)
		}
		if cfg.Content == "" && cfg.File != "" {
			b, err := os.ReadFile(cfg.File)
			if err != nil {
				return nil, err
			}
			cfg.Content = string(b)
		}
		target := ref.Target
		if target == "" {
			target = "/" + ref.Source
		}
		configs[target] = cfg.Content
	}
	data, err := json.Marshal(struct {
		Service types.ServiceConfig
		Configs map[string]string
	}{svc, configs})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	hash := fmt.Sprintf("%x", sum)

	h.mu.Lock()
	old := h.containers[svc.Name]
	h.mu.Unlock()
	if old != nil && old.hash == hash {
		return old, nil
	}
	if old != nil {
		old.stop()
	}
	ns, ip, err := h.net.attach(svc.Name)
	if err != nil {
		return nil, err
	}
	c := &container{h: h, name: svc.Name, svc: svc, hash: hash, config: configs, ns: ns, ip: ip}
	argv := append(append([]string{}, svc.Entrypoint...), svc.Command...)
	// The postgres image's entrypoint starts the server for no command, for
	// "postgres", or for flags; it execs anything else as it is.
	c.server = len(svc.Entrypoint) == 0 && (len(argv) == 0 || argv[0] == "postgres" || strings.HasPrefix(argv[0], "-"))
	c.env = baseEnv(h.bin)
	for k, v := range svc.Environment {
		if v != nil {
			c.env = append(c.env, k+"="+*v)
		}
	}
	h.mu.Lock()
	h.containers[svc.Name] = c
	h.mu.Unlock()
	return c, nil
}

// isCitusImage: citusdata/citus or a mirror of it under another registry or
// organisation (the repository's last path element is "citus").
func isCitusImage(image string) bool {
	ref := image
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref == "citus" || strings.HasSuffix(ref, "/citus")
}

func (c *container) envValue(k string) string {
	if v := c.svc.Environment[k]; v != nil {
		return *v
	}
	return ""
}

func (c *container) logFile() (*os.File, error) {
	dir := filepath.Join(c.h.base, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(dir, c.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

// runOnce runs a one-shot command in the container's namespace with its
// configs mounted at their targets, and returns its exit status.
func (c *container) runOnce(ctx context.Context) (int, error) {
	argv := append(append([]string{}, c.svc.Entrypoint...), c.svc.Command...)
	// ip netns exec gives the command a mount namespace of its own (slave to
	// the host's), so a tmpfs mounted there is seen by nothing else.
	// Configs are read-only files, as docker mounts them.
	script := "set -e\n"
	if len(c.config) > 0 {
		script += "mount -t tmpfs -o mode=0755 composerun /run\n"
	}
	dir := filepath.Join(c.h.base, "configs", c.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return -1, err
	}
	i := 0
	for target, content := range c.config {
		if !strings.HasPrefix(target, "/run/") {
			return -1, fmt.Errorf("config target %s: the harness can mount configs only under /run", target)
		}
		src := filepath.Join(dir, strconv.Itoa(i))
		i++
		if err := os.WriteFile(src, []byte(content), 0o444); err != nil {
			return -1, err
		}
		script += fmt.Sprintf("mkdir -p %s\ncp %s %s\nchmod 0444 %s\n", shellQuote(filepath.Dir(target)), shellQuote(src), shellQuote(target), shellQuote(target))
	}
	script += `exec "$@"`
	log, err := c.logFile()
	if err != nil {
		return -1, err
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", c.ns, "sh", "-c", script, "sh"}, argv...)...)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = log, log
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// waitHealthy runs the service's healthcheck test verbatim in its
// namespace until it passes, within start_period + retries × interval.
func (c *container) waitHealthy(ctx context.Context) error {
	hc := c.svc.HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return fmt.Errorf("container %s has no healthcheck configured", c.name)
	}
	var argv []string
	switch hc.Test[0] {
	case "CMD":
		argv = hc.Test[1:]
	case "CMD-SHELL":
		argv = []string{"sh", "-c", strings.Join(hc.Test[1:], " ")}
	default:
		return fmt.Errorf("healthcheck test %q: must start with CMD, CMD-SHELL or NONE", hc.Test)
	}
	dur := func(d *types.Duration, def time.Duration) time.Duration {
		if d == nil {
			return def
		}
		return time.Duration(*d)
	}
	interval, timeout, start := dur(hc.Interval, 30*time.Second), dur(hc.Timeout, 30*time.Second), dur(hc.StartPeriod, 0)
	retries := 3
	if hc.Retries != nil {
		retries = int(*hc.Retries)
	}
	// Polled faster than the interval: only the verdict matters here, and
	// the budget is the one docker would give.
	deadline := time.Now().Add(start + time.Duration(retries)*interval)
	var last string
	for {
		runCtx, cancel := context.WithTimeout(ctx, timeout)
		cmd := exec.CommandContext(runCtx, "ip", append([]string{"netns", "exec", c.ns}, argv...)...)
		cmd.Env = c.env
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil {
			return nil
		}
		last = strings.TrimSpace(string(out))
		select {
		case <-c.exitedChan():
			return fmt.Errorf("container %s exited:\n%s", c.name, tail(c.h.Logs(c.name), 30))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("container %s is unhealthy: %s", c.name, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *container) exitedChan() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exited == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return c.exited
}

// stop sends the server the postgres image's stop signal (SIGINT, a fast
// shutdown), kills it after docker's 10 s grace, and closes its ports.
func (c *container) stop() {
	c.mu.Lock()
	proc, exited, forwards := c.proc, c.exited, c.forwards
	c.proc, c.forwards = nil, nil
	c.mu.Unlock()
	for _, f := range forwards {
		f.close()
	}
	if proc == nil {
		return
	}
	_ = proc.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = proc.Process.Kill()
		<-exited
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// run runs a PostgreSQL program as the server's OS user, outside any
// namespace (initdb and the image's init steps use no network).
func (h *Harness) run(env []string, name string, args ...string) error {
	cmd := exec.Command(filepath.Join(h.bin, name), args...)
	cmd.Dir = os.TempDir()
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: h.owner}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v\n%s", name, err, out.String())
	}
	return nil
}
