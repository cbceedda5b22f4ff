package upgrade

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/pgupgrade"
	"github.com/citusgen/citusgen/topology"
)

// sqlNodes runs SQL on the live nodes, in every database that has Citus:
// Citus's upgrade functions act per database (a node may have more than
// the cluster database, such as Django's test_ ones).
type sqlNodes struct {
	t   *topology.Topology
	o   cluster.Options
	eps []cluster.Endpoint
}

func newSQLNodes(t *topology.Topology, o cluster.Options) (*sqlNodes, error) {
	eps, err := cluster.Endpoints(t, o)
	if err != nil {
		return nil, err
	}
	return &sqlNodes{t: t, o: o, eps: eps}, nil
}

func (s *sqlNodes) endpoint(service string) cluster.Endpoint {
	for _, ep := range s.eps {
		if ep.Node.Service == service {
			return ep
		}
	}
	panic("upgrade: no endpoint for " + service)
}

func (s *sqlNodes) connect(ctx context.Context, service, db string) (*pgx.Conn, error) {
	conn, err := s.o.Connect(ctx, s.t, s.endpoint(service), db)
	if err != nil {
		return nil, fmt.Errorf("%s: connect to database %s: %s", service, db, s.o.Redact(s.t, err.Error()))
	}
	return conn, nil
}

// citusDatabases are the databases on a node that have the citus extension.
func (s *sqlNodes) citusDatabases(ctx context.Context, service string) ([]string, error) {
	conn, err := s.connect(ctx, service, s.t.ClusterDatabase())
	if err != nil {
		return nil, err
	}
	dbs, err := collectStrings(ctx, conn, "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname")
	conn.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: list databases: %w", service, err)
	}
	var out []string
	for _, db := range dbs {
		c, err := s.connect(ctx, service, db)
		if err != nil {
			return nil, err
		}
		var has bool
		err = c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')").Scan(&has)
		c.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: database %s: %w", service, db, err)
		}
		if has {
			out = append(out, db)
		}
	}
	return out, nil
}

// each runs sql in every database with Citus on service; the statements
// are constants of this package, never built from input.
func (s *sqlNodes) each(ctx context.Context, service string, dbs []string, sql string) error {
	for _, db := range dbs {
		c, err := s.connect(ctx, service, db)
		if err != nil {
			return err
		}
		_, err = c.Exec(ctx, sql)
		c.Close(ctx)
		if err != nil {
			return fmt.Errorf("%s: database %s: %s: %w", service, db, sql, err)
		}
	}
	return nil
}

// busy names the background jobs (a rebalance, a shard move) that run on
// the coordinator: an upgrade must not stop the nodes under them.
func (s *sqlNodes) busy(ctx context.Context) ([]string, error) {
	coord := s.eps[0].Node.Service
	c, err := s.connect(ctx, coord, s.t.ClusterDatabase())
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	var exists bool
	if err := c.QueryRow(ctx, "SELECT to_regclass('pg_catalog.pg_dist_background_job') IS NOT NULL").Scan(&exists); err != nil || !exists {
		return nil, err
	}
	return collectStrings(ctx, c, "SELECT format('job %s (%s, %s)', job_id, description, state) FROM pg_catalog.pg_dist_background_job WHERE state NOT IN ('finished', 'cancelled', 'failed') ORDER BY job_id")
}

// initSettings reads what the new cluster must be initialised with.
func (s *sqlNodes) initSettings(ctx context.Context, service string, major int) (pgupgrade.InitSettings, error) {
	c, err := s.connect(ctx, service, s.t.ClusterDatabase())
	if err != nil {
		return pgupgrade.InitSettings{}, err
	}
	defer c.Close(ctx)
	var is pgupgrade.InitSettings
	var checksums string
	var walseg int64
	err = c.QueryRow(ctx, pgupgrade.InitQuery(major)).Scan(&is.Encoding, &is.Collate, &is.Ctype, &is.Provider, &is.ICULocale, &is.BuiltinLocale, &checksums, &walseg)
	if err != nil {
		return is, fmt.Errorf("%s: read encoding and locale: %w", service, err)
	}
	is.DataChecksums = checksums == "on"
	if walseg != 16<<20 {
		is.WALSegmentMB = int(walseg >> 20)
	}
	return is, nil
}

// collationDrift names the databases whose collation version the server's
// C library no longer matches: after a change of base image the indexes
// on text may sort differently.
func (s *sqlNodes) collationDrift(ctx context.Context, service string) ([]string, error) {
	c, err := s.connect(ctx, service, s.t.ClusterDatabase())
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	return collectStrings(ctx, c, "SELECT datname FROM pg_database WHERE datallowconn AND datcollversion IS DISTINCT FROM pg_database_collation_actual_version(oid) ORDER BY datname")
}

func collectStrings(ctx context.Context, c *pgx.Conn, sql string) ([]string, error) {
	rows, err := c.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// finishCitusUpgrade is Citus's last step of a release change: a procedure
// (a function in some releases), absent before Citus 11.
func (s *sqlNodes) finishCitusUpgrade(ctx context.Context, service, db string) error {
	c, err := s.connect(ctx, service, db)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	var kind *string
	err = c.QueryRow(ctx, "SELECT prokind::text FROM pg_proc WHERE oid = to_regproc('pg_catalog.citus_finish_citus_upgrade')").Scan(&kind)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("%s: database %s: %w", service, db, err)
	}
	sql := "SELECT pg_catalog.citus_finish_citus_upgrade()"
	if *kind == "p" {
		sql = "CALL pg_catalog.citus_finish_citus_upgrade()"
	}
	if _, err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: database %s: %s: %w", service, db, sql, err)
	}
	return nil
}

// undoPrepare takes back citus_prepare_pg_upgrade() on the data it ran on,
// for a cluster that goes back to its old image: citus_finish_pg_upgrade()
// cannot, since it copies the backups into catalogs pg_upgrade would have
// left empty, and the old ones are full. Prepare dropped the array_cat_agg
// aggregate (and any_value before PostgreSQL 16) and made backup tables in
// public; this puts the aggregates back as Citus's finish step makes them,
// part of the extension again, and drops the backups.
const undoPrepare = `DO $undo$
BEGIN
	SET LOCAL citus.enable_ddl_propagation TO off;
	DROP TABLE IF EXISTS public.pg_dist_partition, public.pg_dist_shard, public.pg_dist_placement,
		public.pg_dist_node_metadata, public.pg_dist_node, public.pg_dist_local_group,
		public.pg_dist_transaction, public.pg_dist_colocation, public.pg_dist_authinfo,
		public.pg_dist_poolinfo, public.pg_dist_rebalance_strategy, public.pg_dist_object,
		public.pg_dist_cleanup, public.pg_dist_schema, public.pg_dist_clock_logical_seq,
		public.pg_dist_partkeys_pre_16_upgrade, public.pg_dist_partkeys_pre_18_upgrade;
	IF to_regprocedure('pg_catalog.array_cat_agg(anycompatiblearray)') IS NULL THEN
		CREATE AGGREGATE pg_catalog.array_cat_agg(anycompatiblearray) (SFUNC = array_cat, STYPE = anycompatiblearray);
		COMMENT ON AGGREGATE pg_catalog.array_cat_agg(anycompatiblearray) IS 'concatenate input arrays into a single array';
		INSERT INTO pg_depend SELECT 'pg_proc'::regclass, 'pg_catalog.array_cat_agg(anycompatiblearray)'::regprocedure, 0,
			'pg_extension'::regclass, (SELECT oid FROM pg_extension WHERE extname = 'citus'), 0, 'e';
	END IF;
	IF current_setting('server_version_num')::int < 160000 AND to_regprocedure('pg_catalog.any_value(anyelement)') IS NULL THEN
		CREATE FUNCTION pg_catalog.any_value_agg(anyelement, anyelement) RETURNS anyelement
			AS 'SELECT CASE WHEN $1 IS NULL THEN $2 ELSE $1 END' LANGUAGE SQL STABLE;
		CREATE AGGREGATE pg_catalog.any_value(sfunc = pg_catalog.any_value_agg, combinefunc = pg_catalog.any_value_agg,
			basetype = anyelement, stype = anyelement);
		COMMENT ON AGGREGATE pg_catalog.any_value(anyelement) IS 'Returns the value of any row in the group. It is mostly useful when you know there will be only 1 element.';
		INSERT INTO pg_depend SELECT 'pg_proc'::regclass, p.oid, 0, 'pg_extension'::regclass,
			(SELECT oid FROM pg_extension WHERE extname = 'citus'), 0, 'e'
			FROM pg_proc p WHERE p.oid IN ('pg_catalog.any_value_agg(anyelement, anyelement)'::regprocedure, 'pg_catalog.any_value(anyelement)'::regprocedure);
	END IF;
END
$undo$`
