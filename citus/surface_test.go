package citus_test

import (
	"context"
	"strings"
	"testing"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/testsupport/pgtest"
)

// Every statement and query citusgen sends to Citus is accepted by the
// Citus under test: PREPARE resolves each function, catalog table, column
// and type without running anything. make test runs this on both legs of
// the matrix (Citus 13.2 / PostgreSQL 15 and Citus 14.0 / PostgreSQL 17),
// so a name one of them lacks fails here, not on a user's cluster.
func TestSurfaceExists(t *testing.T) {
	s := pgtest.Start(t, pgtest.Options{Password: "pw", Citus: true})
	s.Exec(t, "postgres", "CREATE EXTENSION citus")
	s.Exec(t, "postgres", "CREATE TABLE t (id bigint PRIMARY KEY)")
	conn := s.Connect(t, "postgres")
	ctx := context.Background()
	var version string
	if err := conn.QueryRow(ctx, "SELECT extversion FROM pg_extension WHERE extname = 'citus'").Scan(&version); err != nil {
		t.Fatal(err)
	}
	t.Logf("citus %s", version)
	stmts := map[string]string{
		"UpsertAuthinfo":               citus.UpsertAuthinfo("commcarehq"),
		"ActivateNode":                 citus.ActivateNode("w", 5432),
		"SyncMetadata":                 citus.SyncMetadata,
		"InactiveGuard":                "SELECT " + citus.InactiveGuard("w", 5432),
		"Distribute":                   citus.Distribute("t", "id"),
		"NodeCatalog":                  citus.NodeCatalog,
		"Shards":                       citus.Shards,
		"Reshape":                      citus.Reshape,
		"ShardBytes":                   citus.ShardBytes,
		"ShardsLeft":                   citus.ShardsLeft,
		"CheckConnections":             citus.CheckConnections,
		"ClusterHealth":                citus.ClusterHealth,
		"RebalanceStart":               citus.RebalanceStart,
		"RebalanceStatus":              citus.RebalanceStatus,
		"RebalanceStop":                citus.RebalanceStop,
		"JobTasks":                     citus.JobTasks,
		"Drain":                        citus.Drain,
		"RemoveNode":                   citus.RemoveNode,
		"OrphansOn":                    citus.OrphansOn,
		"TablesWithoutReplicaIdentity": citus.TablesWithoutReplicaIdentity,
		"CountPlacements":              citus.CountPlacements("pg_catalog.pg_class"),
		"Waiting":                      citus.Waiting,
		"TimeoutCause":                 citus.TimeoutCause,
		"RelationNames":                citus.RelationNames,
	}
	for name, pair := range map[string][2]string{
		"SetCoordinatorHost": pairOf(citus.SetCoordinatorHost("c", 5432)),
		"AddNode":            pairOf(citus.AddNode("w", 5432)),
		"UpdateNode":         pairOf(citus.UpdateNode(2, "w", 5432)),
		"RemoveNonPrimary":   pairOf(citus.RemoveNonPrimary("w", 5432)),
	} {
		stmts[name], stmts[name+" guard"] = pair[0], "SELECT "+pair[1]
	}
	for name, sql := range stmts {
		if _, err := conn.Exec(ctx, "PREPARE surface AS "+sql); err != nil {
			t.Errorf("%s is not accepted by citus %s: %v\n%s", name, version, err, sql)
			continue
		}
		conn.Exec(ctx, "DEALLOCATE surface")
	}
	// SET cannot be prepared: it runs (the setting exists and takes the value).
	if _, err := conn.Exec(ctx, citus.SetConnectionTimeout(5000)); err != nil {
		t.Errorf("SetConnectionTimeout in citus %s: %v", version, err)
	}
	// A procedure cannot be prepared: it must exist with no arguments.
	proc := strings.TrimSuffix(strings.TrimPrefix(citus.CleanupOrphans, "CALL "), "()")
	var found bool
	if err := conn.QueryRow(ctx, "SELECT to_regprocedure($1 || '()') IS NOT NULL", proc).Scan(&found); err != nil || !found {
		t.Errorf("%s() does not exist in citus %s (%v)", proc, version, err)
	}
}

func pairOf(a, b string) [2]string { return [2]string{a, b} }
