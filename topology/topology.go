// Package topology holds the citusgen topology spec: its types, a strict
// position-aware YAML decoder, defaults, validation and the embedded default
// spec that reproduces CommCare HQ's documented Citus setup.
package topology

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/citusgen/citusgen/citus"
)

// Profile selects how the Django side uses the cluster.
type Profile string

const (
	// ProfileDev is a developer's machine: Django sets the cluster up in test
	// runs (ROLE keys present).
	ProfileDev Profile = "dev"
	// ProfileCI reuses databases that already exist (no ROLE keys) and works
	// on the test_ database, as CommCare HQ's test runner requires.
	ProfileCI Profile = "ci"
)

// Reach says where Django runs relative to the compose network.
type Reach string

const (
	// ReachHost: Django runs on the host and uses published ports.
	ReachHost Reach = "host"
	// ReachNetwork: Django runs in a container on the compose network and
	// uses service names and the container port.
	ReachNetwork Reach = "network"
)

// Role of a node in the cluster.
type Role string

const (
	Coordinator Role = "coordinator"
	Worker      Role = "worker"
)

// Node is one PostgreSQL server of the cluster and one Django alias. Its
// tagged fields are the keys of a node in the spec (keys.go).
type Node struct {
	Role    Role
	Service string `key:"service" required:"true" pattern:"service" doc:"Compose service name, also the in-network host name."`
	// Alias is the Django DATABASES alias; a worker may have none (the
	// settings then list only the nodes Django connects to).
	Alias string `key:"alias" required:"coordinator" pattern:"alias" doc:"Django DATABASES alias ('default' is not allowed); a worker without one gets no DATABASES entry."`
	Port  int    `key:"port" range:"port" doc:"Published (host) port; without it the node is reachable inside the compose network only."`
	Image string `key:"image" pattern:"image" doc:"Image for this node; default: the top-level image. none: a server outside compose (packages, a virtual machine)."`
	// Postgres is the PostgreSQL major the node's image runs, which decides
	// where the image keeps its data: from the spec's postgres key or the
	// citusdata/citus tag.
	Postgres     int    `key:"postgres" range:"major" doc:"PostgreSQL major of this node's image, where its tag does not say it (images other than citusdata/citus)."`
	PortVariable string `key:"port_variable" pattern:"env" doc:"Compose variable that overrides the published port; default CITUS_<SERVICE>_EXTERNAL_PORT."`
	// NodeNameOverride, when set, is the host:port other nodes use instead of
	// service:container_port (clusters outside compose, such as VMs).
	NodeNameOverride string `key:"node_name" doc:"host:port other nodes use to reach this one; default service:container_port."`
	// path is the spec path this node was declared at, for error messages.
	path string
}

// countForm is the workers' count form: count workers named and published
// from the prefixes and the first port.
type countForm struct {
	Count         int    `key:"count" required:"true" range:"count"`
	ServicePrefix string `key:"service_prefix" required:"true" doc:"Workers are named <service_prefix>1..<count>."`
	AliasPrefix   string `key:"alias_prefix" required:"true" doc:"Aliases are <alias_prefix>1..<count>."`
	FirstPort     int    `key:"first_port" required:"true" range:"port" doc:"Published port of the first worker; the others follow."`
	Image         string `key:"image" pattern:"image" doc:"Image for these workers; default: the top-level image."`
	Postgres      int    `key:"postgres" range:"major" doc:"PostgreSQL major of these workers' image, where its tag does not say it."`
}

// Setting is one extra top-level Django setting such as ICDS_USE_CITUS = True.
// Value is a bool, an int64 or a string.
type Setting struct {
	Name  string
	Value any
}

// Reporting is one REPORTING_DATABASES entry: Name -> Alias.
type Reporting struct {
	Name  string
	Alias string
}

// Topology is a decoded, defaulted and validated spec. Its tagged fields,
// and those of its sections, are the spec's keys (keys.go).
type Topology struct {
	// Source names the spec in generated headers: the file's base name.
	Source string

	Image            string `key:"image" pattern:"image" default:"citusdata/citus:14.1" doc:"Image for every node. none: the nodes are servers outside compose (packages, virtual machines): no compose services, no image check."`
	Postgres         int    `key:"postgres" range:"major" doc:"PostgreSQL major of the image, which decides where it keeps its data (18 and later: /var/lib/postgresql; earlier: /var/lib/postgresql/data). The citusdata/citus tags say it (14.1 is 18, 14.1-pg17 is 17, 13.2 is 17); any other image needs it to render compose."`
	Database         string `key:"database" pattern:"pgname" default:"commcare_ucr_citus" doc:"Database created on every node (the ci profile uses test_<database>)."`
	DatabaseVariable string `key:"database_variable" pattern:"env-or-empty" doc:"Compose variable that overrides the database name; default CITUS_DB (dev) or UCR_CITUS_DB (ci); empty: POSTGRES_DB is the database itself."`
	User             string `key:"user" pattern:"pgname" default:"commcarehq" doc:"PostgreSQL superuser of the cluster."`
	// Password is the inline password; PasswordEnv names an environment
	// variable that holds it instead. At most one is set.
	Password            string  `key:"password" nonempty:"true" doc:"Password of the user; exclusive with password_env."`
	PasswordEnv         string  `key:"password_env" pattern:"env" doc:"Environment variable holding the password; exclusive with password."`
	TrustAuthentication bool    `key:"trust_authentication" default:"false" doc:"Run the nodes without passwords (POSTGRES_HOST_AUTH_METHOD=trust); needed when neither password nor password_env is given."`
	Profile             Profile `key:"profile" enum:"dev,ci" default:"dev" doc:"dev: ROLE keys, Django sets the cluster up in tests. ci: no ROLE, tests reuse the test_ database."`
	Django              `key:"django"`
	Coordinator         Node   `key:"coordinator" required:"true" doc:"The coordinator node."`
	Workers             []Node `key:"workers" required:"true" doc:"Workers: an explicit list, or the count form."`
	Compose             `key:"compose"`

	// composeErrs are the problems that keep the nodes from being compose
	// services (an image citusgen cannot place, image: none); only the
	// commands that write or compare compose documents report them.
	composeErrs Errors
}

// Django is the spec's django section: how Django reaches the cluster and
// what its settings hold beside DATABASES.
type Django struct {
	Reaches                  Reach       `key:"reaches" enum:"host,network" default:"host" doc:"host: published ports on django.host; network: service names and the container port."`
	Host                     string      `key:"host" pattern:"hostname" default:"localhost" doc:"HOST Django uses when it reaches the nodes from the host."`
	Engine                   string      `key:"engine" pattern:"engine" default:"django.db.backends.postgresql"`
	DisableServerSideCursors bool        `key:"disable_server_side_cursors" default:"true"`
	Roles                    bool        `key:"roles" doc:"Write the ROLE keys (citus_master / citus_worker) Django's test setup uses; default: true, false in the ci profile."`
	ReportingDatabases       []Reporting `key:"reporting_databases" doc:"REPORTING_DATABASES entries: name -> an alias of this topology."`
	Settings                 []Setting   `key:"settings" doc:"Extra top-level Django settings."`
}

// Compose is the spec's compose section: how the nodes run as compose
// services.
type Compose struct {
	ContainerPort int `key:"container_port" range:"port" default:"5432"`
	// PublishAddress is the host address the nodes' ports are published on.
	PublishAddress       string `key:"publish_address" default:"127.0.0.1" doc:"Host address the nodes' ports are published on: loopback by default; 0.0.0.0 for every interface (not with trust_authentication)."`
	HealthStartInterval  string `key:"healthcheck_start_interval" doc:"Healthcheck start_interval of the nodes, such as 1s: they turn healthy sooner after a start. Needs Docker Engine 25 or later (Compose v2.40 refuses it on older engines); left out by default."`
	Setup                bool   `key:"setup" default:"true" doc:"Emit the one-shot citus_setup service that runs the bootstrap once every node is healthy (default: true unless membership_manager)."`
	MembershipManager    bool   `key:"membership_manager" default:"false" doc:"Emit the citus_manager service (the old registration flow); needs setup: false."`
	ManagerImage         string `key:"manager_image" pattern:"image" default:"citusdata/membership-manager:0.3.0"`
	VolumePrefixVariable string `key:"volume_prefix_variable" pattern:"env" default:"VOLUME_PREFIX"`
	VolumeBlankVariable  string `key:"volume_blank_variable" pattern:"env" doc:"Render data volumes as ${VOLUME_PREFIX}${VAR-<service>:}/var/lib/postgresql/data (CommCare HQ's BLANK_IF_TESTS): setting VAR, even empty, drops the named volume."`
	WorkerPassword       bool   `key:"worker_password" default:"true" doc:"Give workers POSTGRES_PASSWORD and PGPASSWORD; false leaves them out, as CommCare HQ's 2019-2020 files did (old images then trusted every connection; current images refuse to start)."`
}

// NoImage is the image of a node that runs from none: a server installed
// from packages or on a virtual machine, reached through node_name or the
// published port. Such a node has no compose service and no image to check.
const NoImage = "none"

// RunsFromImage reports whether the node is a container of an image.
func (n Node) RunsFromImage() bool { return n.Image != NoImage }

// Containerless reports whether no node runs from an image (image: none
// for all): the cluster has no compose document at all.
func (t *Topology) Containerless() bool {
	for _, n := range t.Nodes() {
		if n.RunsFromImage() {
			return false
		}
	}
	return true
}

// ComposeErrors says why the topology cannot be rendered as compose
// services, every problem at its spec position; nil when it can.
func (t *Topology) ComposeErrors() error {
	if len(t.composeErrs) == 0 {
		return nil
	}
	return t.composeErrs
}

// Nodes returns the coordinator followed by the workers, in spec order.
func (t *Topology) Nodes() []Node {
	nodes := make([]Node, 0, 1+len(t.Workers))
	nodes = append(nodes, t.Coordinator)
	return append(nodes, t.Workers...)
}

// ClusterDatabase is the database that exists on every node.
func (t *Topology) ClusterDatabase() string {
	if t.Profile == ProfileCI && !strings.HasPrefix(t.Database, "test_") {
		return "test_" + t.Database
	}
	return t.Database
}

// NodeName is how the coordinator reaches a node: always the in-network name.
func (t *Topology) NodeName(n Node) string {
	if n.NodeNameOverride != "" {
		return n.NodeNameOverride
	}
	return n.Service + ":" + strconv.Itoa(t.ContainerPort)
}

// NodeAddress splits NodeName into the host and port Citus registers.
func (t *Topology) NodeAddress(n Node) (string, int) {
	name := t.NodeName(n)
	i := strings.LastIndexByte(name, ':')
	port, _ := strconv.Atoi(name[i+1:]) // validated
	return name[:i], port
}

// Address is where a node is reached from r: from the host, the spec's host
// (django.host) and the node's published port (0 when it publishes none);
// inside the compose network, its service name and the container port.
func (t *Topology) Address(n Node, r Reach) (host string, port int) {
	if r == ReachNetwork {
		return n.Service, t.ContainerPort
	}
	return t.Host, n.Port
}

// DatabaseEnv is the POSTGRES_DB value of the compose file: the variable
// with the database as default, or the database alone without a variable.
func (t *Topology) DatabaseEnv() string {
	if t.DatabaseVariable == "" {
		return t.ClusterDatabase()
	}
	return "${" + t.DatabaseVariable + ":-" + t.ClusterDatabase() + "}"
}

// HasPassword reports whether nodes use password authentication.
func (t *Topology) HasPassword() bool {
	return t.Password != "" || t.PasswordEnv != ""
}

// OldPasswordEnv is the environment variable citusgen password reads the
// nodes' old password from (never a flag: ps would show it); hints name it.
const OldPasswordEnv = "CITUSGEN_OLD_PASSWORD"

// PasswordChangeHint says how to move every node to the topology's
// password: the hint of a node that rejects it.
func (t *Topology) PasswordChangeHint() string {
	old := "$" + OldPasswordEnv
	if t.PasswordEnv != "" {
		old += " or the .env that sets " + t.PasswordEnv
	}
	return "if the topology's password changed, run citusgen password, which changes it on every node (the old one from " + old + "; citusgen help password has the recipe)"
}

// ResolvePassword returns the password, reading PasswordEnv through getenv
// (os.LookupEnv when nil). The error never contains the value.
func (t *Topology) ResolvePassword(lookup func(string) (string, bool)) (string, error) {
	if t.PasswordEnv == "" {
		return t.Password, nil
	}
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(t.PasswordEnv)
	if !ok || v == "" {
		return "", fmt.Errorf("the topology takes the password from $%s, which is not set: export it (the same value the cluster was created with)", t.PasswordEnv)
	}
	return v, nil
}

// Majors a postgres key may name: PostgreSQL 10 was the first with a
// one-number major.
const minMajor, maxMajor = 10, 99

// images gives every node the PostgreSQL major of its image, which decides
// where the image keeps its data (citus.DataVolume).
func (v *validator) images() {
	t, d := v.t, v.d
	if d.given("postgres") {
		v.major("postgres", t.Postgres)
		if t.Image == NoImage {
			d.errorAt("postgres", "goes with an image; with image: none the nodes run from no image, so remove postgres")
		}
	}
	contradicted := map[string]bool{}
	missing := map[string]bool{}
	v.nodeImage(&t.Coordinator, contradicted, missing)
	for i := range t.Workers {
		v.nodeImage(&t.Workers[i], contradicted, missing)
	}
}

func (v *validator) nodeImage(n *Node, contradicted, missing map[string]bool) {
	t, d := v.t, v.d
	if n.path == "" {
		return // not decoded; reported already
	}
	imagePath, pgPath := field(*n, "image"), field(*n, "postgres")
	ownImage := d.given(imagePath) && n.Image != t.Image
	ownPG := d.given(pgPath)
	if ownPG {
		v.major(pgPath, n.Postgres)
	}
	if !ownImage {
		imagePath = "image"
	}
	if n.Image == NoImage {
		if ownPG {
			d.errorAt(pgPath, "goes with an image; this node runs from none (image: none), so remove postgres")
		}
		n.Postgres = 0
		if !missing[imagePath] {
			missing[imagePath] = true
			t.composeErrs = append(t.composeErrs, d.problemAt(imagePath, imagePath, "is none: the nodes it covers run from no image (a server from packages or a virtual machine), so they have no compose service; give them an image to render compose (render settings, render sql, bootstrap and verify need none)"))
		}
		return
	}
	explicit, explicitPath := 0, ""
	switch {
	case ownPG:
		explicit, explicitPath = n.Postgres, pgPath
	case !ownImage && d.given("postgres"):
		explicit, explicitPath = t.Postgres, "postgres"
	}
	tagged, placed := citus.ImagePostgres(n.Image)
	switch {
	case placed && explicit != 0 && explicit != tagged:
		if !contradicted[explicitPath] {
			contradicted[explicitPath] = true
			d.errorAt(explicitPath, "says PostgreSQL %d, but %s is a PostgreSQL %d image; remove postgres, or name the image of PostgreSQL %d (the citusdata/citus tags end in -pg%d for it)", explicit, n.Image, tagged, explicit, explicit)
		}
	case placed:
		n.Postgres = tagged
	case explicit != 0:
		n.Postgres = explicit
	default:
		n.Postgres = 0
		want := "postgres"
		if ownImage {
			want = pgPath
		}
		if !missing[want] {
			missing[want] = true
			t.composeErrs = append(t.composeErrs, d.problemAt(imagePath, want,
				"is missing: citusgen cannot tell which PostgreSQL major %s runs (only the citusdata/citus tags say it), so not where the image keeps its data; add postgres: MAJOR beside the image (18 and later keep data in %s, earlier majors in %s)",
				short(n.Image), citus.DataVolume(citus.LayoutMajor), citus.DataVolume(citus.LayoutMajor-1)))
		}
	}
}

func (v *validator) major(path string, major int) {
	if major < minMajor || major > maxMajor {
		v.d.errorAt(path, "%d is not a PostgreSQL major version such as 17 or 18 (one whole number, %d or later)", major, minMajor)
	}
}

// publishing checks where ports are published and the opt-in healthcheck
// start interval.
func (v *validator) publishing() {
	t, d := v.t, v.d
	ip := net.ParseIP(t.PublishAddress)
	if t.PublishAddress == "" {
		ip = net.IPv4zero // no address: every interface, as docker publishes without one
	}
	switch {
	case ip == nil:
		d.errorAt("compose.publish_address", "%s is not an IP address; give the host address to publish the nodes' ports on (127.0.0.1 for this machine only, \"\" for every interface)", short(t.PublishAddress))
	case !ip.IsLoopback() && t.TrustAuthentication && v.publishes():
		d.errorAt("compose.publish_address", "publishes the nodes on %s while trust_authentication lets anyone who reaches a node in as the superuser, without a password; publish on 127.0.0.1, or give password or password_env", PublishedWhere(t.PublishAddress))
	case ip.IsLoopback() && t.Reaches == ReachHost && !IsLoopback(t.Host) && v.publishes():
		d.errorAt("django.host", "is %s, but the nodes' ports are published on %s only, which Django cannot reach there; set compose.publish_address to an address of this host that %s reaches (\"\" for every interface), or django.host: localhost", short(t.Host), t.PublishAddress, t.Host)
	case t.Reaches == ReachHost && v.publishes():
		v.hostReaches(ip)
	}
	if d.given("compose.healthcheck_start_interval") {
		if dur, err := time.ParseDuration(t.HealthStartInterval); err != nil || dur <= 0 {
			d.errorAt("compose.healthcheck_start_interval", "%s is not a duration such as 1s or 500ms", short(t.HealthStartInterval))
		}
	}
}

// publishes reports whether any container publishes a port (a server
// outside compose publishes none: port is where it listens).
func (v *validator) publishes() bool {
	for _, n := range v.t.Nodes() {
		if n.Port != 0 && n.RunsFromImage() {
			return true
		}
	}
	return false
}

// PublishedWhere names a publish address for messages.
func PublishedWhere(addr string) string {
	if addr == "" {
		return "every interface"
	}
	return addr
}

// IsLoopback: a host name or address that names this machine's loopback.
func IsLoopback(h string) bool {
	if ip := net.ParseIP(h); ip != nil {
		return ip.IsLoopback()
	}
	return strings.EqualFold(h, "localhost") // DNS ignores case, /etc/hosts too
}

// PublishedPort is the compose ports entry of a node: its published port,
// overridable through its variable, on the publish address (none: every
// interface).
func (t *Topology) PublishedPort(n Node) string {
	entry := fmt.Sprintf("${%s:-%d}:%d", n.PortVariable, n.Port, t.ContainerPort)
	switch ip := net.ParseIP(t.PublishAddress); {
	case t.PublishAddress == "":
		return entry
	case ip != nil && ip.To4() == nil:
		return "[" + t.PublishAddress + "]:" + entry
	}
	return t.PublishAddress + ":" + entry
}
