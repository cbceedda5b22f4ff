"""Tests as a Django team writes them against its Citus cluster: a
distributed table created and queried through the coordinator's alias. The
aliases are the test cluster's (coordinator, worker1, worker2). Each class
declares its databases another way; the Go test runs each class alone,
since Django sets up the union of the databases of a run's tests."""
from django.conf import settings
from django.db import connections
from django.test import SimpleTestCase, TestCase, TransactionTestCase

WORKERS = ("worker1", "worker2")


def node_names():
    return sorted((h, int(p)) for h, _, p in (settings.DATABASES[w]["CITUS_NODE_NAME"].rpartition(":") for w in WORKERS))


def distributed_table_round_trip(test):
    with connections["coordinator"].cursor() as cursor:
        cursor.execute("CREATE TABLE events (id bigint PRIMARY KEY, kind text)")
        cursor.execute("SELECT create_distributed_table('events', 'id', shard_count := 4)")
        cursor.execute("INSERT INTO events SELECT i, 'kind' || (i % 3) FROM generate_series(1, 99) i")
        cursor.execute("SELECT kind, count(*) FROM events GROUP BY kind ORDER BY kind")
        test.assertEqual(cursor.fetchall(), [("kind0", 33), ("kind1", 33), ("kind2", 33)])
        cursor.execute("SELECT DISTINCT nodename, nodeport FROM citus_shards WHERE table_name = 'events'::regclass")
        test.assertEqual(sorted(cursor.fetchall()), node_names())
        cursor.execute("DROP TABLE events")


class AllDatabases(TestCase):
    databases = "__all__"

    def test_distributed_table(self):
        distributed_table_round_trip(self)


class CoordinatorAndDefault(TestCase):
    databases = {"default", "coordinator"}

    def test_distributed_table(self):
        distributed_table_round_trip(self)


class CoordinatorOnly(TransactionTestCase):
    databases = {"coordinator"}

    def test_distributed_table(self):
        distributed_table_round_trip(self)


class WholeCluster(TestCase):
    databases = {"coordinator", "worker1", "worker2"}

    def test_distributed_table(self):
        distributed_table_round_trip(self)


class WorkerOnly(SimpleTestCase):
    databases = {"worker1"}

    def test_worker_of_the_cluster(self):
        # The coordinator's registration reached the worker (metadata sync).
        with connections["worker1"].cursor() as cursor:
            cursor.execute("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0")
            self.assertEqual(sorted(cursor.fetchall()), node_names())


class DefaultOnly(TestCase):
    def test_no_cluster(self):
        self.assertEqual(connections["default"].vendor, "sqlite")


HELD = []  # kept open through teardown


class SlowSessionAtTeardown(SimpleTestCase):
    """A session in worker1's test database whose backend the Go test stops
    (SIGSTOP, as a machine too busy to schedule it), so that teardown's
    forced drop ends it and it does not exit."""

    databases = "__all__"

    def test_hold_a_session(self):
        import os
        import sys
        import time

        import psycopg2

        db = connections["worker1"].settings_dict
        conn = psycopg2.connect(dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"])
        HELD.append(conn)
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        print("HOLDING pid=%d" % pid, file=sys.stderr, flush=True)
        # Go on once the Go test has stopped the backend.
        deadline = time.monotonic() + 60
        while not os.path.exists(os.environ["STOPPED_FILE"]):
            self.assertLess(time.monotonic(), deadline, "the Go test never stopped the backend")
            time.sleep(0.05)
