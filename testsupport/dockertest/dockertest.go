// Package dockertest runs compose documents with the real Docker engine and
// the real `docker compose` CLI, for tests: what compose does with a
// document is proven by compose itself, not by a model of it. Every project
// gets a unique name, publishes only free ports and is removed with its
// volumes (down -v) when the test ends, also when it fails.
//
// No registry is reachable where the tests run: images are built locally
// (../shared/citus/image.sh) and other names are made with docker tag; a
// test never pulls.
package dockertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/citusgen/citusgen/testsupport/pgtest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv names the variable under which a test that would skip for lack
// of a Docker engine, the compose CLI or a local image fails instead: CI sets
// it, so a missing install step cannot pass as skipped tests.
const RequireEnv = "CITUSGEN_REQUIRE_DOCKER"

// ComposeEnv names a standalone compose binary to use instead of the
// `docker compose` plugin (e.g. an older version).
const ComposeEnv = "CITUSGEN_COMPOSE"

// Required reports whether CITUSGEN_REQUIRE_DOCKER=1 is set.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// SkipUnavailable skips the test with the reason, or fails it with the same
// reason under CITUSGEN_REQUIRE_DOCKER=1.
func SkipUnavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if Required() {
		tb.Fatalf(format+" ("+RequireEnv+"=1 makes this a failure)", args...)
	}
	tb.Skipf(format, args...)
}

// Compose is one compose CLI: the docker plugin or a standalone binary.
type Compose struct {
	argv    []string // e.g. [docker compose] or [/usr/local/bin/docker-compose-2.32]
	Version string   // as `version --short` prints it
}

var engineOnce = sync.OnceValue(func() error {
	if _, err := exec.LookPath("docker"); err != nil {
		return errors.New("needs the docker CLI and a running engine (run ../shared/docker/engine.sh as root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return fmt.Errorf("no Docker engine answers (%s): run ../shared/docker/engine.sh as root", strings.TrimSpace(lastLine(out)))
	}
	return nil
})

// Require skips (or fails, under CITUSGEN_REQUIRE_DOCKER=1) the test unless
// a Docker engine runs, the compose CLI works and every image exists
// locally. It returns the compose CLI named by $CITUSGEN_COMPOSE, else the
// docker plugin.
func Require(tb testing.TB, images ...string) *Compose {
	tb.Helper()
	if testing.Short() {
		tb.Skip(pgtest.ShortSkip)
	}
	if err := engineOnce(); err != nil {
		SkipUnavailable(tb, "%v", err)
	}
	c, err := compose(os.Getenv(ComposeEnv))
	if err != nil {
		SkipUnavailable(tb, "%v", err)
	}
	RequireImages(tb, images...)
	return c
}

// RequireCompose returns a standalone compose binary, as Require does for
// the default one: for scenarios that must hold on several versions.
func RequireCompose(tb testing.TB, binary string) *Compose {
	tb.Helper()
	if testing.Short() {
		tb.Skip(pgtest.ShortSkip)
	}
	if err := engineOnce(); err != nil {
		SkipUnavailable(tb, "%v", err)
	}
	c, err := compose(binary)
	if err != nil {
		SkipUnavailable(tb, "%v", err)
	}
	return c
}

var composeCache sync.Map // binary -> *Compose

func compose(binary string) (*Compose, error) {
	if c, ok := composeCache.Load(binary); ok {
		return c.(*Compose), nil
	}
	argv := []string{"docker", "compose"}
	if binary != "" {
		argv = []string{binary}
	}
	out, err := exec.Command(argv[0], append(argv[1:], "version", "--short")...).CombinedOutput()
	if err != nil {
		if binary == "" {
			return nil, fmt.Errorf("needs the Docker Compose v2 plugin (`docker compose version` failed: %s): run ../shared/docker/engine.sh as root", strings.TrimSpace(lastLine(out)))
		}
		return nil, fmt.Errorf("needs the compose binary %s (%s): build it with COMPOSE_VERSION=... COMPOSE_INSTALL=%s ../shared/docker/engine.sh", binary, strings.TrimSpace(lastLine(out)), binary)
	}
	c := &Compose{argv: argv, Version: strings.TrimSpace(string(out))}
	composeCache.Store(binary, c)
	return c, nil
}

// RequireImages skips (or fails) unless every image exists locally.
func RequireImages(tb testing.TB, images ...string) {
	tb.Helper()
	for _, img := range images {
		if exec.Command("docker", "image", "inspect", img).Run() != nil {
			SkipUnavailable(tb, "needs the local image %s (no registry is reachable): build it with ../shared/citus/image.sh as root", img)
		}
	}
}

// Tag gives an existing local image another name, as tests of files that
// name other tags need (never a pull).
func Tag(tb testing.TB, image, as string) {
	tb.Helper()
	if out, err := exec.Command("docker", "tag", image, as).CombinedOutput(); err != nil {
		tb.Fatalf("docker tag %s %s: %v\n%s", image, as, err, out)
	}
}

// Project is one compose project: its files, its environment and its name.
type Project struct {
	Name    string
	Dir     string   // working directory: relative paths and .env resolve here
	Files   []string // -f arguments, relative to Dir or absolute
	Env     map[string]string
	compose *Compose
	tb      testing.TB
}

// NewProject names a project uniquely and removes it (containers, networks,
// volumes, orphans) when the test ends.
func (c *Compose) NewProject(tb testing.TB, dir string, files ...string) *Project {
	tb.Helper()
	var b [4]byte
	rand.Read(b[:])
	p := &Project{
		Name:    "citusgen-test-" + hex.EncodeToString(b[:]),
		Dir:     dir,
		Files:   files,
		Env:     map[string]string{},
		compose: c,
		tb:      tb,
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if tb.Failed() {
			// What the containers said is the evidence of a failure.
			out, _ := p.Run(ctx, "logs", "--no-color", "--tail", "40")
			tb.Logf("docker compose logs of %s:\n%s", p.Name, out)
			out, _ = p.Run(ctx, "ps", "-a")
			tb.Logf("docker compose ps -a:\n%s", out)
		}
		// down may refuse (a required variable unset), and leaves the
		// volumes of services the file no longer has: what still carries
		// the project's label goes too.
		out, _ := p.Run(ctx, "down", "-v", "--remove-orphans", "--timeout", "5")
		if err := p.removeByLabel(ctx); err != nil {
			tb.Errorf("removing compose project %s: %s\n%v", p.Name, out, err)
		}
	})
	return p
}

// Containers lists the IDs of the project's containers, running or not,
// from the engine's labels: it works where compose would refuse the file.
func (p *Project) Containers() []string {
	p.tb.Helper()
	out, err := exec.Command("docker", "ps", "-a", "-q", "--filter", "label=com.docker.compose.project="+p.Name).Output()
	if err != nil {
		p.tb.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

// VolumeMount is a volume (named or anonymous) a container of the project
// mounts.
type VolumeMount struct {
	Service, Name, Destination string
}

// VolumeMounts lists the volumes the project's containers mount, from the
// engine: an anonymous one (an image's VOLUME nothing in the file covers)
// outlives a `down` without -v.
func (p *Project) VolumeMounts() []VolumeMount {
	p.tb.Helper()
	ids := p.Containers()
	if len(ids) == 0 {
		return nil
	}
	format := `{{$s := index .Config.Labels "com.docker.compose.service"}}{{range .Mounts}}{{if eq .Type "volume"}}{{$s}} {{.Name}} {{.Destination}}{{println}}{{end}}{{end}}`
	out, err := exec.Command("docker", append([]string{"inspect", "-f", format}, ids...)...).Output()
	if err != nil {
		p.tb.Fatalf("docker inspect: %v", err)
	}
	var mounts []VolumeMount
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			mounts = append(mounts, VolumeMount{f[0], f[1], f[2]})
		}
	}
	return mounts
}

func (p *Project) removeByLabel(ctx context.Context) error {
	filter := "label=com.docker.compose.project=" + p.Name
	var errs []error
	for _, kind := range [][]string{{"ps", "-a", "-q"}, {"volume", "ls", "-q"}, {"network", "ls", "-q"}} {
		out, err := exec.CommandContext(ctx, "docker", append(kind, "--filter", filter)...).Output()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids := strings.Fields(string(out))
		if len(ids) == 0 {
			continue
		}
		rm := []string{"rm", "-fv"}
		if kind[0] != "ps" {
			rm = []string{kind[0], "rm"}
		}
		if out, err := exec.CommandContext(ctx, "docker", append(rm, ids...)...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%v: %s", err, out))
		}
	}
	return errors.Join(errs...)
}

// Command builds the compose command line for args.
func (p *Project) Command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append([]string{}, p.compose.argv[1:]...)
	argv = append(argv, "-p", p.Name)
	for _, f := range p.Files {
		argv = append(argv, "-f", f)
	}
	cmd := exec.CommandContext(ctx, p.compose.argv[0], append(argv, args...)...)
	cmd.Dir = p.Dir
	cmd.Env = os.Environ()
	for k, v := range p.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// `docker compose` runs the plugin as a child of the docker CLI; one
	// left behind holding the output pipe would keep Wait from returning
	// after the CLI itself has ended or been killed.
	cmd.WaitDelay = 30 * time.Second
	return cmd
}

// Run runs a compose command and returns its combined output and exit code
// (-1 when it could not run or was killed).
func (p *Project) Run(ctx context.Context, args ...string) (string, int) {
	var out bytes.Buffer
	cmd := p.Command(ctx, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return out.String(), exit.ExitCode()
	}
	return out.String() + "\n" + err.Error(), -1
}

// Must runs a compose command that must succeed within timeout.
func (p *Project) Must(timeout time.Duration, args ...string) string {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, code := p.Run(ctx, args...)
	if code != 0 {
		p.tb.Fatalf("%s compose %s: exit %d\n%s", p.compose.Version, strings.Join(args, " "), code, out)
	}
	return out
}

// Network is the project's default network, where its services resolve by name.
func (p *Project) Network() string { return p.Name + "_default" }

// FreePorts returns n distinct TCP ports that are free on the loopback
// interface now, for a project's published ports.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	handedOut.Lock()
	defer handedOut.Unlock()
	ports := make([]int, 0, n)
	for len(ports) < n {
		// Published ports bind every address: probe the same.
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, l)
		port := l.Addr().(*net.TCPAddr).Port
		// Tests run side by side: a port handed to one is never handed to
		// another, though it is free until that one's project binds it.
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			ports = append(ports, port)
		}
	}
	return ports
}

var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Citusgen builds the citusgen command once per test process, statically
// linked, so the same binary runs on the host and inside a container of
// any Debian-based image.
func Citusgen(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "citusgen-bin-")
		if err != nil {
			buildErr = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		buildBin = filepath.Join(dir, "citusgen")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/citusgen")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building citusgen: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return buildBin
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
