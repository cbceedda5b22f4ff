package upgrade

import (
	"context"
	"testing"

	"github.com/aymanbagabas/go-udiff"

	"github.com/citusgen/citusgen/testsupport/pgtest"
)

// What undoPrepare does on the data citus_prepare_pg_upgrade ran on, on
// real Citus: the extension's members are as before prepare, the backup
// tables are gone, and distributed queries that use the aggregates work.
func TestUndoPrepare(t *testing.T) {
	pgtest.RequireCitus(t)
	s := pgtest.Start(t, pgtest.Options{Password: "pw", Citus: true})
	const db = "postgres"
	s.Exec(t, db, "CREATE EXTENSION citus")
	s.Exec(t, db, "SELECT citus_set_coordinator_host('127.0.0.1', $1)", s.Port)
	s.Exec(t, db, "SELECT citus_set_node_property('127.0.0.1', $1, 'shouldhaveshards', true)", s.Port)
	s.Exec(t, db, "CREATE TABLE t (id int PRIMARY KEY, a int[])")
	s.Exec(t, db, "SELECT create_distributed_table('t', 'id')")
	s.Exec(t, db, "INSERT INTO t SELECT g, ARRAY[g] FROM generate_series(1, 100) g")
	conn := s.Connect(t, db)
	ctx := context.Background()
	members := func() string {
		t.Helper()
		var got string
		if err := conn.QueryRow(ctx, `SELECT string_agg(pg_describe_object(classid, objid, objsubid), E'\\n' ORDER BY pg_describe_object(classid, objid, objsubid)) FROM pg_depend
			WHERE refclassid = 'pg_extension'::regclass AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'citus') AND deptype = 'e'`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	before := members()
	if _, err := conn.Exec(ctx, "SELECT citus_prepare_pg_upgrade()"); err != nil {
		t.Fatal(err)
	}
	if members() == before {
		t.Fatal("prepare changed no member of the extension; the test proves nothing")
	}
	for range 2 { // twice: a rollback run again
		if _, err := conn.Exec(ctx, undoPrepare); err != nil {
			t.Fatal(err)
		}
	}
	if got := members(); got != before {
		t.Errorf("the extension's members after undoPrepare differ from before prepare:\n%s", udiff.Unified("before", "after", before, got))
	}
	var backups int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'pg_dist%'").Scan(&backups); err != nil || backups != 0 {
		t.Errorf("%d backup tables left (%v)", backups, err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT cardinality(array_cat_agg(a)) FROM t").Scan(&n); err != nil || n != 100 {
		t.Errorf("array_cat_agg over the distributed table: %d, %v", n, err)
	}
	// The cycle a later upgrade runs still works on this data.
	if _, err := conn.Exec(ctx, "SELECT citus_prepare_pg_upgrade()"); err != nil {
		t.Errorf("prepare after undoPrepare: %v", err)
	}
}
