package generator

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/topology"
)

type sqlStep struct {
	Connect string // conninfo for \connect when the database changes
	// Lock, with Connect: the statement that takes the step lock in the
	// new session (steps.StepLock), for as long as it lasts.
	Lock    string
	Comment string
	Guard   string
	SQL     string // statement for a guarded step, quoted by the template
	Text    string // statement as psql runs it
}

type sqlNode struct {
	Role    topology.Role
	Service string
	Alias   string
	Address string
	Steps   []sqlStep
}

type sqlScript struct {
	Source string
	// Run says how the script is run, for its header.
	Run         string
	PasswordEnv string
	Nodes       []sqlNode
	Node        sqlNode
}

// AddressFunc says where psql reaches a node.
type AddressFunc func(topology.Node) (host string, port int)

// DjangoAddress reaches nodes where Django does (the default).
func DjangoAddress(t *topology.Topology) AddressFunc {
	return func(n topology.Node) (string, int) { return t.Address(n, t.Reaches) }
}

func sqlView(t *topology.Topology, plans []steps.NodeSteps, addr AddressFunc) sqlScript {
	// Inline passwords are already in the spec, compose file and settings;
	// a password from the environment stays there (\getenv).
	authinfo := psqlAuthinfo
	if t.PasswordEnv == "" {
		authinfo = quote.SQLLiteral(citus.Authinfo(t.Password))
	}
	v := sqlScript{Source: t.Source, Run: runLine(t, addr), PasswordEnv: t.PasswordEnv}
	for _, p := range plans {
		h, pn := addr(p.Node)
		host, port := h, strconv.Itoa(pn)
		n := sqlNode{Role: p.Node.Role, Service: p.Node.Service, Alias: p.Node.Alias, Address: host + ":" + port}
		current := steps.Target(-1)
		for _, s := range p.Steps {
			st := sqlStep{Comment: s.Comment, Guard: s.Guard, SQL: s.SQL, Text: s.SQL}
			if s.Target != current {
				db := steps.MaintenanceDatabase
				if s.Target == steps.OnCluster {
					db = t.ClusterDatabase()
				}
				st.Connect = fmt.Sprintf("dbname=%s host=%s port=%s", db, host, port)
				st.Lock = steps.StepLock
				current = s.Target
			}
			if s.Authinfo {
				st.Text = strings.Replace(s.SQL, "$1", authinfo, 1)
			}
			n.Steps = append(n.Steps, st)
		}
		v.Nodes = append(v.Nodes, n)
	}
	return v
}

// runLine is the header's command: psql connects first to the coordinator
// where the script's own \connect lines reach it.
func runLine(t *topology.Topology, addr AddressFunc) string {
	host, port := addr(t.Coordinator)
	cmd := fmt.Sprintf("psql -h %s -p %d -U %s -d %s -f bootstrap.sql", host, port, t.User, steps.MaintenanceDatabase)
	switch {
	case t.PasswordEnv != "":
		cmd = fmt.Sprintf("PGPASSWORD=\"$%s\" %s   ($%s must be set: the script reads it too)", t.PasswordEnv, cmd, t.PasswordEnv)
	case t.HasPassword():
		cmd += "   (PGPASSWORD or ~/.pgpass supplies the password)"
	}
	if host == t.Coordinator.Service && t.Reaches == topology.ReachNetwork {
		cmd += "\n-- The addresses are compose service names: run it inside the compose network,\n" +
			"-- or from the host with: citusgen bootstrap --reach host"
	}
	return cmd
}

// SQL renders the whole bootstrap as one psql script.
func SQL(t *topology.Topology) ([]byte, error) {
	return SQLAt(t, DjangoAddress(t))
}

// SQLAt renders the bootstrap script with \connect lines to the given
// addresses (bootstrap --dry-run shows where it would connect).
func SQLAt(t *topology.Topology, addr AddressFunc) ([]byte, error) {
	return execute("sql", sqlView(t, steps.BootstrapSteps(t), addr))
}

// NetworkAddress reaches nodes inside the compose network: service name and
// container port.
func NetworkAddress(t *topology.Topology) AddressFunc {
	return func(n topology.Node) (string, int) { return t.Address(n, topology.ReachNetwork) }
}

// SetupSQL renders the script the compose setup service runs: the same
// bootstrap, reaching every node inside the compose network.
func SetupSQL(t *topology.Topology) ([]byte, error) {
	v := sqlView(t, steps.BootstrapSteps(t), NetworkAddress(t))
	v.Run = "the " + citus.SetupService + " service runs this once every node is healthy, and again when this script changes or a node is recreated (docker compose up)"
	return execute("sql", v)
}

// NodeSQL renders the bootstrap of each node as its own psql script, in
// bootstrap order (workers, then the coordinator).
func NodeSQL(t *topology.Topology) ([][]byte, error) {
	view := sqlView(t, steps.BootstrapSteps(t), DjangoAddress(t))
	out := make([][]byte, len(view.Nodes))
	for i, n := range view.Nodes {
		view.Node = n
		b, err := execute("sql-node-file", view)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// psqlAuthinfo builds the pg_dist_authinfo value (citus.Authinfo) inside
// psql from the variable that \getenv filled, so the script never holds
// the secret.
const psqlAuthinfo = `'password=''' || replace(replace(:'citusgen_password', E'\\', E'\\\\'), '''', E'\\''') || ''''`
