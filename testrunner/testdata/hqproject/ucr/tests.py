"""The suite the Go test runs twice per profile: the workers are registered
where CITUS_NODE_NAME says, and a distributed table takes writes that land on
every worker."""
from django.conf import settings
from django.db import connections
from django.test import SimpleTestCase

ROWS = 1000


def coordinator_alias():
    """The alias whose test database depends on the workers' (both profiles
    render TEST.DEPENDENCIES; only dev has ROLE)."""
    (alias,) = [a for a, db in settings.DATABASES.items() if db.get("TEST", {}).get("DEPENDENCIES")]
    return alias


def worker_aliases():
    return [alias for alias, db in settings.DATABASES.items() if db.get("CITUS_NODE_NAME")]


def node_name(alias):
    host, _, port = settings.DATABASES[alias]["CITUS_NODE_NAME"].rpartition(":")
    return host, int(port)


class CitusClusterTest(SimpleTestCase):
    databases = "__all__"

    def test_workers_registered_by_node_name(self):
        with connections[coordinator_alias()].cursor() as cursor:
            cursor.execute(
                "SELECT nodename, nodeport FROM pg_dist_node"
                " WHERE groupid <> 0 AND isactive AND noderole = 'primary'"
            )
            registered = sorted(cursor.fetchall())
        self.assertEqual(registered, sorted(node_name(a) for a in worker_aliases()))

    def test_distributed_write(self):
        with connections[coordinator_alias()].cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS ucr_fixture")
            cursor.execute("CREATE TABLE ucr_fixture (doc_id bigint PRIMARY KEY, owner text)")
            # Few shards keep the test quick; two workers still get some each.
            cursor.execute("SET citus.shard_count TO 4")
            cursor.execute("SELECT create_distributed_table('ucr_fixture', 'doc_id')")
            cursor.execute(
                "INSERT INTO ucr_fixture SELECT i, 'owner' || i %% 7 FROM generate_series(1, %s) i", [ROWS]
            )
            cursor.execute("SELECT count(*) FROM ucr_fixture")
            self.assertEqual(cursor.fetchone()[0], ROWS)
            cursor.execute(
                "SELECT nodename, nodeport, count(*) FROM citus_shards"
                " WHERE table_name = 'ucr_fixture'::regclass GROUP BY 1, 2"
            )
            placements = {(host, port): n for host, port, n in cursor.fetchall()}
        self.assertEqual(sorted(placements), sorted(node_name(a) for a in worker_aliases()))

        # Every worker holds part of the rows, read through its own alias.
        stored = 0
        for alias in worker_aliases():
            with connections[alias].cursor() as cursor:
                # Citus hides shards from pg_class in ordinary sessions.
                cursor.execute("SET citus.override_table_visibility TO off")
                cursor.execute(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relkind = 'r' AND n.nspname = 'public' AND c.relname ~ '^ucr_fixture_[0-9]+$'"
                )
                shards = [name for (name,) in cursor.fetchall()]
                held = 0
                for shard in shards:
                    cursor.execute('SELECT count(*) FROM "%s"' % shard)
                    held += cursor.fetchone()[0]
            self.assertGreater(held, 0, "worker %s holds none of the rows" % alias)
            stored += held
        self.assertEqual(stored, ROWS)

        with connections[coordinator_alias()].cursor() as cursor:
            cursor.execute("DROP TABLE ucr_fixture")
