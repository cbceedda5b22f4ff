// Package generator renders the artifacts of a topology: compose services,
// the Django settings fragment, the bootstrap and reset SQL, render --out's
// files.
package generator

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"text/template"
	"unicode"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/topology"
)

// templateFiles holds compose.tmpl, settings.tmpl and sql.tmpl.
//
//go:embed *.tmpl
var templateFiles embed.FS

// ManagedLabel marks every service citusgen writes, so tools (and people)
// can tell generated services from hand-written ones.
const ManagedLabel = "io.citusgen.managed=true"

// SetupConfig is the top-level config that carries the bootstrap script into
// the setup service, inline (content:), so no file has to sit beside the
// compose file; SetupScript is where the service reads it.
const (
	SetupConfig = "citus_setup_sql"
	SetupScript = "/run/citusgen/bootstrap.sql"
	// SetupReady is the file the setup service creates once the script has
	// run; its healthcheck reports healthy from then on.
	SetupReady = "/tmp/citusgen-ready"
	// SetupDigestLabel carries the script's SHA-256.
	SetupDigestLabel = "io.citusgen.setup-script-sha256"
)

// setupCommand registers the workers and then stays up, so that a healthy
// setup service means a registered cluster: `docker compose up --wait` waits
// for it (an exited one-shot container fails --wait, docker/compose#10596),
// an application waits with condition: service_healthy, and
// --abort-on-container-exit does not stop the cluster once setup is done.
// A failed script exits 1 and its log names the likeliest cause on a cluster
// that ran before (a password changed in the spec alone); the trap makes
// docker compose stop/down end it at once, with status 0.
const setupCommand = `rm -f ` + SetupReady + `
psql -X -w -v ON_ERROR_STOP=1 -f ` + SetupScript + ` || { echo "citusgen: the bootstrap script failed (psql says why above); if a password was refused after the cluster's password changed, run citusgen password (citusgen help password), then docker compose up -d --wait again" >&2; exit 1; }
touch ` + SetupReady + `
echo "citusgen: the cluster is registered; this service stays up to report it (healthy)"
trap 'exit 0' TERM INT
sleep infinity & wait
`

// nodeHealthInterval is how often each node's pg_isready runs.
const nodeHealthInterval = "2s"

type envVar struct {
	Name  string
	Value string // already a YAML scalar
}

type composeService struct {
	Name    string
	Image   string
	Ports   []string
	Labels  []string
	Volume  string // named volume to declare at top level
	Volumes []string
	// NamedVolumes are written in the long syntax (see dataVolume).
	NamedVolumes []namedVolume
	Tmpfs        []string
	Environment  []envVar
	Healthcheck  *healthcheck
	DependsOn    []dependency
	Command      []string
	Script       string // command run by sh -c, written as a YAML block
	Configs      []configMount
	Restart      string
}

type healthcheck struct {
	Test                                    []string
	Interval, Timeout, StartPeriod, Retries string
	StartInterval                           string // "" leaves it out (engine 25 and later)
}

// Restart: recreating or restarting the dependency restarts this service.
type dependency struct {
	Service, Condition string
	Restart            bool
}

type configMount struct{ Source, Target string }

// namedVolume is a volume mount in compose's long syntax, type: volume.
type namedVolume struct{ Source, Target string }

type composeConfig struct {
	Name    string
	Content string // already a YAML block or scalar
}

type composeDoc struct {
	Source   string
	Rerun    string // the header's command that writes the document again
	Services []composeService
	Configs  []composeConfig
}

func healthy(services ...string) []dependency {
	deps := make([]dependency, len(services))
	for i, s := range services {
		deps[i] = dependency{Service: s, Condition: "service_healthy"}
	}
	return deps
}

func composeView(t *topology.Topology) (composeDoc, error) {
	if err := t.ComposeErrors(); err != nil {
		return composeDoc{}, err
	}
	ne := newNodeEnv(t)
	doc := composeDoc{Source: t.Source}
	// Nodes start in parallel: registration waits for all of them (the
	// setup service or citusgen bootstrap), not the coordinator itself.
	doc.Services = append(doc.Services, nodeService(t, t.Coordinator, citus.RoleMaster, ne))
	if t.MembershipManager {
		mgrEnv := []envVar{{"CITUS_HOST", quote.YAMLScalar(t.Coordinator.Service)}}
		mgrEnv = append(mgrEnv, ne.env...)
		doc.Services = append(doc.Services, composeService{
			Name:        citus.ManagerService,
			Image:       t.ManagerImage,
			Labels:      []string{ManagedLabel},
			Volumes:     []string{"${DOCKER_SOCK:-/var/run/docker.sock}:/var/run/docker.sock"},
			Environment: mgrEnv,
			DependsOn:   healthy(t.Coordinator.Service),
		})
	}
	nodes := []string{t.Coordinator.Service}
	for _, w := range t.Workers {
		s := nodeService(t, w, citus.RoleWorker, ne)
		if t.MembershipManager {
			s.DependsOn = healthy(citus.ManagerService)
		}
		doc.Services = append(doc.Services, s)
		nodes = append(nodes, w.Service)
	}
	if t.Setup {
		script, err := SetupSQL(t)
		if err != nil {
			return composeDoc{}, err
		}
		doc.Services = append(doc.Services, setupService(t, ne.password, script, nodes))
		doc.Configs = append(doc.Configs, composeConfig{Name: SetupConfig, Content: quote.ComposeBlock(string(script), 6)})
	}
	return doc, nil
}

// nodeEnv is what every node's service shares: its environment (the
// workers' may lack the password), and how it gives the password.
type nodeEnv struct {
	env, workerEnv []envVar
	password       string // a YAML scalar; "" without one
	health         *healthcheck
}

func newNodeEnv(t *topology.Topology) nodeEnv {
	dbVar := t.DatabaseEnv()
	var ne nodeEnv
	ne.env = []envVar{
		{"POSTGRES_DB", quote.YAMLScalar(dbVar)},
		{"POSTGRES_USER", quote.ComposeLiteral(t.User)},
	}
	switch {
	case t.PasswordEnv != "":
		// :? stops docker compose up with this message instead of
		// starting nodes with an empty password.
		ne.password = quote.YAMLScalar("${" + t.PasswordEnv + ":?set " + t.PasswordEnv + " to the cluster password}")
	case t.Password != "":
		ne.password = quote.ComposeLiteral(t.Password)
	}
	ne.workerEnv = ne.env
	switch {
	case ne.password != "":
		// PGPASSWORD stays in the server's environment so the coordinator's
		// connections to workers authenticate (the citus image relies on it).
		ne.env = append(ne.env, envVar{"POSTGRES_PASSWORD", ne.password}, envVar{"PGPASSWORD", ne.password})
		if t.WorkerPassword {
			ne.workerEnv = ne.env
		}
	default:
		// Current postgres images refuse to initialise without a password
		// unless told that trust is intended.
		ne.env = append(ne.env, envVar{"POSTGRES_HOST_AUTH_METHOD", "trust"})
		ne.workerEnv = ne.env
	}
	// 127.0.0.1: the image's first-start server listens on the socket only,
	// so the node turns healthy when the real server is up.
	ne.health = &healthcheck{
		Test: []string{"CMD", "pg_isready", "-h", "127.0.0.1", "-p", strconv.Itoa(t.ContainerPort), "-U", t.User, "-d", dbVar},
		// A long start period: first starts initialise a database each (initdb,
		// CREATE EXTENSION), which on a busy machine takes minutes; a check that
		// passes ends it at once.
		Interval: nodeHealthInterval, Timeout: "5s", Retries: "30", StartPeriod: "2m",
		// Engines before 25 know no start_interval and Compose v2.40 refuses
		// the file there, so it is the spec's opt-in.
		StartInterval: t.HealthStartInterval,
	}
	return ne
}

// nodeService is the service of one node, labelled with its Citus role.
func nodeService(t *topology.Topology, n topology.Node, role string, ne nodeEnv) composeService {
	s := composeService{
		Name:        n.Service,
		Image:       n.Image,
		Labels:      []string{citus.RoleLabel + "=" + role, ManagedLabel},
		Volume:      n.Service,
		Environment: ne.env,
		Healthcheck: ne.health,
	}
	if short, long := dataVolume(t, n); driveLetter(n.Service) {
		// Compose reads a short-syntax source of one letter (c:/var/lib/...)
		// as a Windows drive: an anonymous volume, and up fails ("mount path
		// must be absolute").
		s.NamedVolumes = []namedVolume{long}
	} else {
		s.Volumes = []string{short}
	}
	if n.Role == topology.Worker {
		s.Environment = ne.workerEnv
	}
	if n.Port != 0 {
		s.Ports = []string{t.PublishedPort(n)}
	}
	return s
}

// dataVolume mounts a node's data where its image keeps it (which follows
// from its PostgreSQL major): a named volume, or a bind mount under
// ${VOLUME_PREFIX} when that is a path; with a blank variable, setting it
// (even empty) leaves only the target, an anonymous volume, as CommCare HQ's
// test runs did with ${VOLUME_PREFIX}${BLANK_IF_TESTS-<service>:}.
func dataVolume(t *topology.Topology, n topology.Node) (short string, long namedVolume) {
	target := citus.DataVolume(n.Postgres)
	prefix := "${" + t.VolumePrefixVariable + ":-}" // :- keeps docker compose from warning that it is unset
	if t.VolumeBlankVariable != "" {
		// In the long syntax an empty source is the anonymous volume; in
		// the short one the colon goes inside the variable.
		return prefix + "${" + t.VolumeBlankVariable + "-" + n.Service + ":}" + target,
			namedVolume{prefix + "${" + t.VolumeBlankVariable + "-" + n.Service + "}", target}
	}
	return prefix + n.Service + ":" + target, namedVolume{prefix + n.Service, target}
}

// driveLetter reports whether a volume source of this name alone would be
// read by compose as a Windows drive (one letter before the colon).
func driveLetter(name string) bool {
	r := []rune(name)
	return len(r) == 1 && unicode.IsLetter(r[0])
}

// setupService runs the bootstrap script with the image's psql once every
// node is healthy, then stays up and healthy (see setupCommand).
func setupService(t *topology.Topology, password string, script []byte, nodes []string) composeService {
	env := []envVar{
		{"PGHOST", quote.YAMLScalar(t.Coordinator.Service)},
		{"PGPORT", quote.YAMLScalar(strconv.Itoa(t.ContainerPort))},
		{"PGUSER", quote.ComposeLiteral(t.User)},
		{"PGDATABASE", quote.YAMLScalar(steps.MaintenanceDatabase)},
	}
	if password != "" {
		env = append(env, envVar{"PGPASSWORD", password})
	}
	if t.PasswordEnv != "" {
		// The script reads the inter-node password with \getenv.
		env = append(env, envVar{t.PasswordEnv, password})
	}
	env = append(env, envVar{"PGCONNECT_TIMEOUT", quote.YAMLScalar("10")})
	deps := healthy(nodes...)
	for i := range deps {
		deps[i].Restart = true
	}
	sum := sha256.Sum256(script)
	return composeService{
		Name:        citus.SetupService,
		Image:       t.Coordinator.Image,
		Labels:      []string{ManagedLabel, SetupDigestLabel + "=" + hex.EncodeToString(sum[:])},
		Script:      quote.ComposeBlock(setupCommand, 8),
		Environment: env,
		Configs:     []configMount{{SetupConfig, SetupScript}},
		// The image declares its data directory a volume (PostgreSQL 18
		// images all of /var/lib/postgresql), which this service never
		// uses: without a mount there, every `docker compose down`
		// (without -v) would leave an anonymous volume behind.
		Tmpfs: []string{citus.DataVolume(t.Coordinator.Postgres)},
		// The image's own HEALTHCHECK (pg_isready) would never pass here.
		Healthcheck: &healthcheck{
			Test:     []string{"CMD", "test", "-f", SetupReady},
			Interval: "1s", Timeout: "5s", Retries: "3",
			// Until the script has run the check fails without counting, so
			// a long registration never reads as unhealthy.
			StartPeriod: "10m",
		},
		Restart:   "no",
		DependsOn: deps,
	}
}

// ComposeFor renders the compose document (one service per node, named
// volumes, healthchecks and, unless turned off, the setup service that
// registers the workers) printed into the file at path, relative to the
// spec's folder, which its header names in the command that writes it
// again: citusgen render > path.
func ComposeFor(t *topology.Topology, path string) ([]byte, error) {
	return composeWith(t, Rerun(t, "render > "+quote.Shell(path)))
}

func composeWith(t *topology.Topology, rerun string) ([]byte, error) {
	doc, err := composeView(t)
	if err != nil {
		return nil, err
	}
	doc.Rerun = rerun
	return execute("compose", doc)
}

// Section is what citusgen writes into one top-level section of a compose
// document: its entries, at two-space indentation, without the key.
type Section struct {
	Key  string
	Body []byte
}

// ComposeSections renders what citusgen writes into each top-level section
// of the compose document (services, volumes, configs, in that order),
// each empty when it has nothing to hold: render --into keeps each in a
// managed region of a user's file.
func ComposeSections(t *topology.Topology) ([]Section, error) {
	doc, err := composeView(t)
	if err != nil {
		return nil, err
	}
	var out []Section
	for _, key := range []string{"services", "volumes", "configs"} {
		b, err := execute("compose-"+key, doc)
		if err != nil {
			return nil, err
		}
		out = append(out, Section{Key: key, Body: bytes.TrimLeft(b, "\n")})
	}
	return out, nil
}

// templateFuncs are the quoting helpers every template may call.
var templateFuncs = template.FuncMap{
	"yaml":    quote.YAMLScalar,
	"compose": quote.ComposeLiteral,
	"py":      quote.PyLiteral,
	"ident":   quote.SQLIdent,
	"literal": quote.SQLLiteral,
}

var parsedTemplates = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("citusgen").Funcs(templateFuncs).ParseFS(templateFiles, "*.tmpl"))
})

// execute renders the named template with data.
func execute(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := parsedTemplates().ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// ResetSQL prints what reset would run, node by node (coordinator first, so
// its metadata goes before the workers' databases).
func ResetSQL(t *topology.Topology, addr AddressFunc) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "-- citusgen reset: drops and recreates database %s on %d nodes; every table in it is lost.\n", t.ClusterDatabase(), len(t.Nodes()))
	for _, n := range t.Nodes() {
		host, port := addr(n)
		fmt.Fprintf(&b, "\n-- %s %s at %s\n\\connect -reuse-previous=on 'dbname=%s host=%s port=%s'\n", n.Role, n.Service, host+":"+strconv.Itoa(port), steps.ResetDatabase(t), host, strconv.Itoa(port))
		for _, s := range steps.ResetSteps(t) {
			fmt.Fprintf(&b, "%s;\n", s.SQL)
		}
	}
	return b.Bytes()
}
