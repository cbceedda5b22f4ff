// Package steps holds the idempotent, guarded SQL steps that bootstrap and
// reset a cluster.
package steps

import (
	"fmt"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/topology"
)

// MaintenanceDatabase is where CREATE DATABASE runs.
const MaintenanceDatabase = "postgres"

// ResetDatabase is where reset drops and recreates the cluster database:
// the maintenance database, or template1 when the cluster database is
// postgres itself (a session cannot drop the database it is connected to).
func ResetDatabase(t *topology.Topology) string {
	if t.ClusterDatabase() == MaintenanceDatabase {
		return "template1"
	}
	return MaintenanceDatabase
}

// StepLockKey is the session advisory lock that keeps the bootstrap script
// (psql, as the compose setup service runs it) and citusgen bootstrap from
// running steps on one node's database at the same moment: two sessions that
// both find the citus extension missing would both create it, and one fails
// with a duplicate key.
const StepLockKey int64 = 0x6369747573746570

// StepLock and StepUnlock take and release the step lock in the session.
var (
	StepLock   = fmt.Sprintf("SELECT pg_catalog.pg_advisory_lock(%d)", StepLockKey)
	StepUnlock = fmt.Sprintf("SELECT pg_catalog.pg_advisory_unlock(%d)", StepLockKey)
)

// Target says which database a step runs in.
type Target int

const (
	OnMaintenance Target = iota // the maintenance database (postgres)
	OnCluster                   // the cluster database
)

// Step is one bootstrap statement.
type Step struct {
	Target Target
	// Action says what the step does, for progress output.
	Action  string
	Comment string
	// SQL is the statement. When Authinfo is set it takes $1, the libpq
	// conninfo fragment that carries the password (never inlined by bootstrap).
	SQL string
	// Guard, when set, is a boolean SQL expression: SQL runs only when it is
	// true.
	Guard    string
	Authinfo bool
}

// NodeSteps is the ordered bootstrap of one node.
type NodeSteps struct {
	Node  topology.Node
	Steps []Step
}

// BootstrapSteps returns the bootstrap in the order it must run: every
// worker, then the coordinator, which sets its own host and registers the
// workers by their in-network names.
func BootstrapSteps(t *topology.Topology) []NodeSteps {
	common := []Step{CreateDatabase(t), CreateExtension()}
	if t.HasPassword() {
		common = append(common, StoreCredentials(t))
	}
	out := make([]NodeSteps, 0, len(t.Workers)+1)
	for _, w := range t.Workers {
		out = append(out, NodeSteps{Node: w, Steps: common})
	}
	coord := append([]Step(nil), common...)
	coord = append(coord, SetCoordinatorHost(t))
	for i, w := range t.Workers {
		st := RegisterWorker(t, w)
		if i == 0 {
			st.Comment = "register each worker by its in-network name (once)"
		}
		coord = append(coord, st)
	}
	return append(out, NodeSteps{Node: t.Coordinator, Steps: coord})
}

// CreateDatabase creates the cluster database where it is missing.
func CreateDatabase(t *topology.Topology) Step {
	db := t.ClusterDatabase()
	return Step{
		Target:  OnMaintenance,
		Action:  "create database " + db,
		Comment: "create the database where it is missing",
		SQL:     "CREATE DATABASE " + quote.SQLIdent(db),
		Guard:   "NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = " + quote.SQLLiteral(db) + ")",
	}
}

// CreateExtension creates the citus extension in the cluster database.
func CreateExtension() Step {
	return Step{Target: OnCluster, Action: "create extension citus", SQL: "CREATE EXTENSION IF NOT EXISTS citus"}
}

// StoreCredentials stores the credentials a node uses to reach the others.
func StoreCredentials(t *topology.Topology) Step {
	return Step{
		Target:   OnCluster,
		Action:   "store inter-node credentials",
		Comment:  "credentials this node uses to reach the other nodes",
		SQL:      citus.UpsertAuthinfo(t.User),
		Authinfo: true,
	}
}

// SetCoordinatorHost sets (or corrects) the name workers reach the
// coordinator by.
func SetCoordinatorHost(t *topology.Topology) Step {
	host, port := t.NodeAddress(t.Coordinator)
	sql, guard := citus.SetCoordinatorHost(host, port)
	return Step{
		Target:  OnCluster,
		Action:  fmt.Sprintf("set coordinator host %s:%d", host, port),
		Comment: "workers reach the coordinator by its in-network name",
		SQL:     sql,
		Guard:   guard,
	}
}

// RegisterWorker adds a worker by its node name, once.
func RegisterWorker(t *topology.Topology, w topology.Node) Step {
	host, port := t.NodeAddress(w)
	sql, guard := citus.AddNode(host, port)
	return Step{Target: OnCluster, Action: fmt.Sprintf("register worker %s:%d", host, port), SQL: sql, Guard: guard}
}

// The repairs below are steps `render sql` never prints: only a reading of
// the live cluster shows they are needed. They run on the coordinator.

// ActivateWorker activates a worker registered but inactive.
func ActivateWorker(t *topology.Topology, w topology.Node) Step {
	host, port := t.NodeAddress(w)
	return Step{Target: OnCluster, Action: fmt.Sprintf("activate worker %s:%d", host, port), SQL: citus.ActivateNode(host, port), Guard: citus.InactiveGuard(host, port)}
}

// SyncMetadata copies the coordinator's metadata to the workers again (all
// of them: one run repairs every worker that needs it).
func SyncMetadata() Step {
	return Step{Target: OnCluster, Action: "sync metadata to the workers", SQL: citus.SyncMetadata}
}

// RenameRegistration points registration id at the worker's node name,
// keeping its group and shards.
func RenameRegistration(t *topology.Topology, w topology.Node, id int32, from string) Step {
	host, port := t.NodeAddress(w)
	sql, guard := citus.UpdateNode(id, host, port)
	return Step{Target: OnCluster, Action: fmt.Sprintf("rename registration %s (nodeid %d) to %s:%d", from, id, host, port), SQL: sql, Guard: guard}
}

// RemoveNonPrimary removes a worker's registration that is not primary, so
// RegisterWorker adds it again as one.
func RemoveNonPrimary(t *topology.Topology, w topology.Node) Step {
	host, port := t.NodeAddress(w)
	sql, guard := citus.RemoveNonPrimary(host, port)
	return Step{Target: OnCluster, Action: fmt.Sprintf("remove non-primary registration %s:%d", host, port), SQL: sql, Guard: guard}
}

// ResetSteps are the statements `citusgen reset` runs on every node, in the
// maintenance database: end other sessions on the cluster database, drop it
// and create it empty. They name the cluster database and nothing else.
func ResetSteps(t *topology.Topology) []Step {
	db := t.ClusterDatabase()
	return []Step{{
		Target: OnMaintenance,
		Action: "end other sessions on " + db,
		SQL:    "SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity WHERE datname = " + quote.SQLLiteral(db) + " AND pid <> pg_catalog.pg_backend_pid()",
	}, {
		Target: OnMaintenance,
		Action: "drop database " + db,
		// FORCE (PostgreSQL 13+) also ends sessions that connect in between.
		SQL: "DROP DATABASE IF EXISTS " + quote.SQLIdent(db) + " WITH (FORCE)",
	}, {
		Target: OnMaintenance,
		Action: "create database " + db,
		SQL:    "CREATE DATABASE " + quote.SQLIdent(db),
	}}
}
