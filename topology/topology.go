// Package topology holds the citusgen topology spec: its types, a strict
// position-aware YAML decoder, defaults, validation and the embedded default
// spec that reproduces CommCare HQ's documented Citus setup.
package topology

import (
	"fmt"
	"os"
	"strconv"
	"strings"
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

// Node is one PostgreSQL server of the cluster and one Django alias.
type Node struct {
	Role    Role
	Service string // compose service name, also the in-network host name
	// Alias is the Django DATABASES alias; a worker may have none (the
	// settings then list only the nodes Django connects to).
	Alias string
	// Port is the published (host) port; 0 publishes none (the node is
	// reachable inside the compose network only).
	Port  int
	Image string // image, defaults to the topology's image; NoImage for a server outside compose
	// Postgres is the PostgreSQL major the node's image runs, which decides
	// where the image keeps its data: from the spec's postgres key or the
	// citusdata/citus tag. 0 for a node that runs from no image, or whose
	// image citusgen cannot place (ComposeErrors says which).
	Postgres int
	// PortVariable is the compose variable that can override the published port.
	PortVariable string
	// NodeNameOverride, when set, is the host:port other nodes use instead of
	// service:container_port (clusters outside compose, such as VMs).
	NodeNameOverride string
	// path is the spec path this node was declared at, for error messages.
	path string
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

// Topology is a decoded, defaulted and validated spec.
type Topology struct {
	// Source names the spec in generated headers: the file's base name.
	Source string

	Image string
	// Postgres is the spec's top-level postgres key: the PostgreSQL major
	// of Image where its tag does not say (0 when not given).
	Postgres         int
	Database         string
	DatabaseVariable string
	User             string
	// Password is the inline password; PasswordEnv names an environment
	// variable that holds it instead. At most one is set.
	Password    string
	PasswordEnv string
	// TrustAuthentication is the explicit opt-in to nodes without passwords.
	TrustAuthentication bool
	Profile             Profile

	// Roles writes the ROLE keys (citus_master / citus_worker) Django's test
	// setup uses; off by default in the ci profile.
	Roles                    bool
	Reaches                  Reach
	Host                     string // host name Django uses when it reaches from the host
	Engine                   string
	DisableServerSideCursors bool
	ReportingDatabases       []Reporting
	Settings                 []Setting

	ContainerPort int
	// PublishAddress is the host address the nodes' ports are published on:
	// loopback unless the spec names another.
	PublishAddress string
	// HealthStartInterval is the opt-in healthcheck start_interval
	// (engine 25 and later); "" leaves it out.
	HealthStartInterval string
	// VolumeBlankVariable, when set, renders each data volume the way
	// CommCare HQ did, ${VOLUME_PREFIX}${VAR-<service>:}/var/lib/postgresql/data:
	// setting VAR (even empty) drops the named volume for throw-away runs.
	VolumeBlankVariable string
	// WorkerPassword gives workers POSTGRES_PASSWORD and PGPASSWORD; off,
	// they get neither, as in CommCare HQ's 2019-2020 files (old images then
	// trusted every connection).
	WorkerPassword    bool
	MembershipManager bool
	// Setup emits the one-shot setup service that runs the bootstrap inside
	// the compose network once every node is healthy.
	Setup                bool
	ManagerImage         string
	VolumePrefixVariable string

	Coordinator Node
	Workers     []Node

	// composeErrs are the problems that keep the nodes from being compose
	// services (an image citusgen cannot place, image: none); only the
	// commands that write or compare compose documents report them.
	composeErrs Errors
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
// services, every problem at its spec position; nil when it can. Settings,
// SQL and the live commands do not need what it asks for.
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

// ClusterDatabase is the database that exists on every node. The ci profile
// works on the test_ database, because CommCare HQ's test runner refuses
// database names without that prefix and Django derives TEST NAME that way.
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

// Address is where a node is reached from r: from the host, the spec's
// host (django.host) and the node's published port (0 when it publishes
// none); inside the compose network, its service name and the container
// port. Django reaches every node from t.Reaches; citusgen from the reach
// its flags say, the same by default.
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
