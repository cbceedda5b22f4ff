package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// ImageEnv names a citus image to run the test servers from, instead of this
// machine's PostgreSQL binaries: the real-Citus tests then run against that
// image's Citus and PostgreSQL (CI runs them with citusdata/citus:14.0 beside
// the local Citus 13.2 on PostgreSQL 15). Each server is a container on the
// host's network listening on a free loopback port, so servers reach each
// other at 127.0.0.1:PORT exactly as local ones do.
const ImageEnv = "CITUSGEN_CITUS_IMAGE"

// Image is the image servers run from, "" for local binaries.
func Image() string { return os.Getenv(ImageEnv) }

// imageAvailable reports whether the image exists locally (never pulled).
func imageAvailable(image string) (bool, string) {
	if _, err := exec.LookPath("docker"); err != nil {
		return false, ImageEnv + " is set, but there is no docker CLI"
	}
	if out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Id}}", image).CombinedOutput(); err != nil {
		return false, fmt.Sprintf("%s=%s, but that image is not here (%s): build it with ../shared/citus/image.sh --citus 14 (no registry is reachable)", ImageEnv, image, strings.TrimSpace(string(out)))
	}
	return true, ""
}

// ensureInit runs the image's own first-start initialisation (user,
// password, pg_hba) and then the server. Unlike the image's entrypoint it
// leaves no PGPASSWORD in the server's environment, as local servers have
// none (Options.Env gives one to both): inter-node credentials come from
// pg_dist_authinfo unless a test says otherwise. The init scripts folder is empty
// (a tmpfs), so no database holds the extension until a test creates it,
// as with local servers.
const ensureInit = `docker-ensure-initdb.sh "$@" >/dev/null && exec gosu postgres postgres "$@"`

// startContainer is Start for ImageEnv: a container of the image on the
// host network, with the same settings as a local server.
func startContainer(tb TB, opts Options) *Server {
	tb.Helper()
	image := Image()
	if ok, why := imageAvailable(image); !ok {
		SkipUnavailable(tb, "%s", why)
	}
	s := &Server{Host: "127.0.0.1", User: opts.User, Password: opts.Password, Citus: opts.Citus, tb: tb}
	var lastErr string
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			tb.Fatal(err)
		}
		var b [6]byte
		rand.Read(b[:])
		s.Port, s.container = port, "citusgen-pg-"+hex.EncodeToString(b[:])
		data, err := dataDir(image, opts)
		if err != nil {
			tb.Fatal(err)
		}
		args := []string{"run", "-d", "--name", s.container, "--network", "host",
			"--tmpfs", "/docker-entrypoint-initdb.d",
			"-v", data + ":" + imagePGDATA(image),
			"--entrypoint", "bash"}
		for _, e := range opts.Env {
			args = append(args, "-e", e)
		}
		tb.Cleanup(func() { os.RemoveAll(data) })
		preload := ""
		if opts.Citus {
			preload = "citus"
		}
		args = append(args, image, "-c", ensureInit, "bash",
			"-c", "port="+strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "max_connections=60", "-c", "shared_buffers=32MB",
			"-c", "shared_preload_libraries="+preload)
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			tb.Fatalf("docker run %s: %v\n%s", image, err, out)
		}
		name := s.container
		tb.Cleanup(func() { exec.Command("docker", "rm", "-fv", name).Run() })
		if err := s.waitContainer(5 * time.Minute); err == nil {
			return s
		} else {
			lastErr = err.Error()
		}
		logs, _ := exec.Command("docker", "logs", "--tail", "30", name).CombinedOutput()
		if !strings.Contains(string(logs), "could not bind") && !strings.Contains(string(logs), "Address already in use") {
			tb.Fatalf("server from %s did not start: %s\n%s", image, lastErr, logs)
		}
		exec.Command("docker", "rm", "-fv", name).Run()
	}
	tb.Fatalf("server from %s did not start after retries: %s", image, lastErr)
	return nil
}

// initArgs are what the image's first start gets for a server's options.
// initdb would trust 127.0.0.1, which on the host network is every local
// client: TCP authenticates as on a local server.
func initArgs(opts Options) []string {
	env := []string{"POSTGRES_USER=" + opts.User, "POSTGRES_INITDB_ARGS=--locale=C -E UTF8 --no-sync --auth-local=trust --auth-host=trust"}
	if opts.Password != "" {
		return append(env[:1], "POSTGRES_PASSWORD="+opts.Password,
			"POSTGRES_INITDB_ARGS=--locale=C -E UTF8 --no-sync --auth-local=trust --auth-host=scram-sha-256")
	}
	return append(env, "POSTGRES_HOST_AUTH_METHOD=trust")
}

var pgdata sync.Map // image -> its PGDATA

// imagePGDATA is where the image keeps its data (its PGDATA): the data
// directory is mounted there. PostgreSQL 18 images keep it in
// /var/lib/postgresql/18/docker and refuse a mount at .../data.
func imagePGDATA(image string) string {
	if v, ok := pgdata.Load(image); ok {
		return v.(string)
	}
	dir := "/var/lib/postgresql/data"
	out, err := exec.Command("docker", "image", "inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", image).Output()
	if err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(l, "PGDATA="); ok && v != "" {
				dir = v
			}
		}
	}
	pgdata.Store(image, dir)
	return dir
}

// dataDir returns a fresh copy of an initialised data directory for these
// options. The image's first start (initdb, users, pg_hba) runs once per
// image and options, not once per server: a dozen servers initialising at
// once on two cores took minutes.
func dataDir(image string, opts Options) (string, error) {
	tpl, err := ImageDir("citusgen-pgtemplates", image, initArgs(opts), func(tmp string) error {
		args := []string{"run", "--rm", "--tmpfs", "/docker-entrypoint-initdb.d", "-v", tmp + ":" + imagePGDATA(image), "--entrypoint", "docker-ensure-initdb.sh"}
		for _, e := range initArgs(opts) {
			args = append(args, "-e", e)
		}
		if out, err := exec.Command("docker", append(args, image)...).CombinedOutput(); err != nil {
			return fmt.Errorf("initialising a data directory with %s: %v\n%s", image, err, out)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "citusgen-pgdata-")
	if err != nil {
		return "", err
	}
	// cp keeps the owner (the image's postgres user) and modes.
	if out, err := exec.Command("cp", "-a", tpl+"/.", dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copying the data directory: %v: %s", err, out)
	}
	return dir, nil
}

// waitContainer waits until the container's server accepts an authenticated
// connection on its TCP port (the first-start server listens on the socket
// only), or the container has exited.
func (s *Server) waitContainer(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			c.Close(context.Background())
			return nil
		}
		out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Running}}", s.container).Output()
		if strings.TrimSpace(string(out)) != "true" {
			return fmt.Errorf("the container exited (last connection error: %v)", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no connection within %s: %v", limit, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopContainer shuts the server down at once (SIGQUIT, as pg_ctl's
// immediate mode) and waits for the container to end.
func (s *Server) stopContainer() {
	exec.Command("docker", "kill", "-s", "QUIT", s.container).Run()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exec.CommandContext(ctx, "docker", "wait", s.container).Run()
}

func (s *Server) restartContainer() error {
	if out, err := exec.Command("docker", "start", s.container).CombinedOutput(); err != nil {
		return fmt.Errorf("docker start: %v: %s", err, out)
	}
	return s.waitContainer(2 * time.Minute)
}

// SpecImage is the citus image whose release the test servers run: the
// ImageEnv image, else citusdata/citus:MAJOR.MINOR-pgPG of the Citus and
// PostgreSQL installed for the local binaries ("" without them).
func SpecImage() string {
	if img := Image(); img != "" {
		return img
	}
	dir, err := BinDir()
	if err != nil {
		return ""
	}
	out, err := exec.Command(filepath.Join(dir, "pg_config"), "--sharedir").Output()
	if err != nil {
		return ""
	}
	control, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "extension", "citus.control"))
	if err != nil {
		return ""
	}
	m := regexp.MustCompile(`(?m)^default_version\s*=\s*'(\d+)\.(\d+)`).FindSubmatch(control)
	if m == nil {
		return ""
	}
	// The -pgNN variant names the major too, so verify finds both as the
	// spec says (the plain 13.2 tag is PostgreSQL 17).
	version, err := exec.Command(filepath.Join(dir, "pg_config"), "--version").Output()
	pg := regexp.MustCompile(`PostgreSQL (\d+)`).FindSubmatch(version)
	if err != nil || pg == nil {
		return ""
	}
	return fmt.Sprintf("citusdata/citus:%s.%s-pg%s", m[1], m[2], pg[1])
}

var imageDirs sync.Map // key -> *imageDir

type imageDir struct {
	once sync.Once
	dir  string
	err  error
}

// ImageDir is a directory made once by fill from an image and the
// settings that shape what fill makes (the environment of its first
// start): once per test process, and kept across processes and runs under
// $TMPDIR/<cache>, keyed by the image's ID, so a rebuilt image gets a new
// one. fill gets an empty directory; an unfinished one is never used.
func ImageDir(cache, image string, settings []string, fill func(dir string) error) (string, error) {
	id, err := exec.Command("docker", "image", "inspect", "-f", "{{.Id}}", image).Output()
	if err != nil {
		return "", fmt.Errorf("docker image inspect %s: %v", image, err)
	}
	sum := sha256.Sum256([]byte(strings.Join(append([]string{strings.TrimSpace(string(id))}, settings...), "\x00")))
	key := cache + "/" + hex.EncodeToString(sum[:8])
	v, _ := imageDirs.LoadOrStore(key, &imageDir{})
	d := v.(*imageDir)
	d.once.Do(func() {
		root := filepath.Join(os.TempDir(), cache)
		d.dir = filepath.Join(os.TempDir(), key)
		done := filepath.Join(d.dir, ".complete")
		if _, err := os.Stat(done); err == nil {
			return
		}
		if d.err = os.MkdirAll(root, 0o755); d.err != nil {
			return
		}
		tmp, err := os.MkdirTemp(root, "init-")
		if err != nil {
			d.err = err
			return
		}
		defer os.RemoveAll(tmp)
		if d.err = fill(tmp); d.err != nil {
			return
		}
		if d.err = os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); d.err != nil {
			return
		}
		os.RemoveAll(d.dir) // an unfinished one of an earlier process
		// Another process may have finished first: either will do.
		if err := os.Rename(tmp, d.dir); err != nil {
			if _, statErr := os.Stat(done); statErr != nil {
				d.err = err
			}
		}
	})
	return d.dir, d.err
}
