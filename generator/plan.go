package generator

import (
	"fmt"
	"strings"

	"github.com/citusgen/citusgen/templates"
	"github.com/citusgen/citusgen/topology"
)

// MaintenanceDatabase is where CREATE DATABASE runs.
const MaintenanceDatabase = "postgres"

// Target says which database a step runs in.
type Target int

const (
	OnMaintenance Target = iota // the maintenance database (postgres)
	OnCluster                   // the cluster database
)

// Step is one statement of the bootstrap. Both `render sql` and `bootstrap`
// run exactly these statements, so the printed script is what gets applied.
type Step struct {
	Target Target
	// Action says what the step does, for progress output.
	Action  string
	Comment string
	// SQL is the statement. When Authinfo is set it takes $1, the libpq
	// conninfo fragment that carries the password (never inlined by bootstrap).
	SQL string
	// Guard, when set, is a boolean SQL expression: SQL runs only when it is
	// true. It makes statements without IF NOT EXISTS (CREATE DATABASE, which
	// also must run outside a transaction) idempotent, and keeps re-runs from
	// rewriting Citus metadata that is already right.
	Guard    string
	Authinfo bool
}

// NodePlan is the ordered bootstrap of one node.
type NodePlan struct {
	Node  topology.Node
	Steps []Step
}

// Plan returns the bootstrap in the order it must run: every worker, then the
// coordinator, which sets its own host and registers the workers by their
// in-network names. Running workers first avoids the concurrent-migration
// deadlocks CommCare HQ's migrate_multi was known for.
func Plan(t *topology.Topology) []NodePlan {
	db := t.ClusterDatabase()
	common := []Step{{
		Target:  OnMaintenance,
		Action:  "create database " + db,
		Comment: "create the database where it is missing",
		SQL:     "CREATE DATABASE " + templates.SQLIdent(db),
		Guard:   "NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = " + templates.SQLLiteral(db) + ")",
	}, {
		Target: OnCluster,
		Action: "create extension citus",
		SQL:    "CREATE EXTENSION IF NOT EXISTS citus",
	}}
	if t.HasPassword() {
		// Nodes connect to each other with the cluster user; pg_dist_authinfo
		// is per node, so every node gets the row (nodeid 0: any other node).
		common = append(common, Step{
			Target:  OnCluster,
			Action:  "store inter-node credentials",
			Comment: "credentials this node uses to reach the other nodes",
			SQL: "INSERT INTO pg_catalog.pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, " +
				templates.SQLLiteral(t.User) + ", $1)\n    ON CONFLICT (rolename, nodeid) DO UPDATE SET authinfo = EXCLUDED.authinfo" +
				"\n    WHERE pg_dist_authinfo.authinfo IS DISTINCT FROM EXCLUDED.authinfo",
			Authinfo: true,
		})
	}
	plans := make([]NodePlan, 0, len(t.Workers)+1)
	for _, w := range t.Workers {
		plans = append(plans, NodePlan{Node: w, Steps: common})
	}
	coord := append([]Step(nil), common...)
	host, port := t.NodeAddress(t.Coordinator)
	coord = append(coord, Step{
		Target:  OnCluster,
		Action:  fmt.Sprintf("set coordinator host %s:%d", host, port),
		Comment: "workers reach the coordinator by its in-network name",
		SQL:     fmt.Sprintf("SELECT pg_catalog.citus_set_coordinator_host(%s, %d)", templates.SQLLiteral(host), port),
		Guard:   fmt.Sprintf("NOT EXISTS (SELECT FROM pg_catalog.pg_dist_node WHERE groupid = 0 AND nodename = %s AND nodeport = %d)", templates.SQLLiteral(host), port),
	})
	for i, w := range t.Workers {
		host, port := t.NodeAddress(w)
		st := Step{
			Target: OnCluster,
			Action: fmt.Sprintf("register worker %s:%d", host, port),
			SQL:    fmt.Sprintf("SELECT pg_catalog.citus_add_node(%s, %d)", templates.SQLLiteral(host), port),
			Guard:  fmt.Sprintf("NOT EXISTS (SELECT FROM pg_catalog.pg_dist_node WHERE nodename = %s AND nodeport = %d)", templates.SQLLiteral(host), port),
		}
		if i == 0 {
			st.Comment = "register each worker by its in-network name (once)"
		}
		coord = append(coord, st)
	}
	return append(plans, NodePlan{Node: t.Coordinator, Steps: coord})
}

// Authinfo is the pg_dist_authinfo value for a password: a libpq conninfo
// fragment, quoted so any character survives.
func Authinfo(password string) string {
	return "password='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(password) + "'"
}

// psqlAuthinfo builds the same value inside psql from the variable that
// \getenv filled, so the script never holds the secret.
const psqlAuthinfo = `'password=''' || replace(replace(:'citusgen_password', E'\\', E'\\\\'), '''', E'\\''') || ''''`
