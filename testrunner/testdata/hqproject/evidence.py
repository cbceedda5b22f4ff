"""Django's own runner, plus a report of who holds the test databases when
its teardown fails: one HOLDER line per session in a test database, with the
backend on another node that opened it. Citus names its inter-node
connections 'citus_internal gpid=<node id * 10^10 + pid>'; the pid alone is
ambiguous when the nodes run in containers (each has its own pid numbers),
so a gpid is resolved by node id and pid, each node's id read from the node
itself (citus_backend_gpid, 99999999 for a coordinator outside the
metadata)."""
import re
import sys

import psycopg2
from django.conf import settings
from django.db import OperationalError
from django.test.runner import DiscoverRunner

GPID = re.compile(r"^citus_internal gpid=(\d+)$")
GPID_BASE = 10**10


def connect(db, dbname):
    return psycopg2.connect(dbname=dbname, user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"])


def query(db, dbname, sql):
    conn = connect(db, dbname)
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()
    finally:
        conn.close()


def node_id(db):
    """The id this node stamps on its gpids, from a test database that has
    the extension; None when none has."""
    for (datname,) in query(db, "postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%' ORDER BY 1"):
        try:
            return query(db, datname, "SELECT citus_backend_gpid()")[0][0] // GPID_BASE
        except psycopg2.Error:
            continue
    return None


def node_activity():
    """pg_stat_activity and the node id of every node Django knows, by alias."""
    activity, ids = {}, {}
    for alias, db in settings.DATABASES.items():
        if not db.get("ENGINE", "").endswith("postgresql"):
            continue
        activity[alias] = query(
            db,
            "postgres",
            "SELECT pid, datname, coalesce(application_name, ''), coalesce(backend_type, ''),"
            " coalesce(host(client_addr) || ':' || client_port, 'local')"
            " FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
        )
        ids[alias] = node_id(db)
    return activity, ids


def report_holders():
    activity, ids = node_activity()
    for alias in sorted(ids):
        print("NODE %s id=%s" % (alias, ids[alias]), file=sys.stderr)
    # Two nodes with one id (both outside the metadata) make their gpids
    # ambiguous: those resolve to no origin rather than to a wrong one.
    shared = {i for i in ids.values() if list(ids.values()).count(i) > 1}
    by_gpid = {
        (ids[alias], row[0]): (alias, row)
        for alias, rows in activity.items()
        if ids[alias] is not None and ids[alias] not in shared
        for row in rows
    }
    for alias, rows in sorted(activity.items()):
        for pid, datname, app, backend_type, client in rows:
            if not (datname or "").startswith("test_"):
                continue
            origin = "-"
            m = GPID.match(app)
            key = m and divmod(int(m.group(1)), GPID_BASE)
            if key in by_gpid:
                o_alias, (o_pid, o_db, o_app, o_type, o_client) = by_gpid[key]
                origin = "%s pid=%d backend_type=%r application_name=%r client=%s" % (o_alias, o_pid, o_type, o_app, o_client)
            print(
                "HOLDER node=%s db=%s pid=%d backend_type=%r application_name=%r client=%s origin=%s"
                % (alias, datname, pid, backend_type, app, client, origin),
                file=sys.stderr,
            )


class EvidenceRunner(DiscoverRunner):
    def teardown_databases(self, old_config, **kwargs):
        try:
            return super().teardown_databases(old_config, **kwargs)
        except (OperationalError, RuntimeError):
            # RuntimeError: Django 3.2's _nodb_cursor retries against the
            # first database after an OperationalError and then fails so.
            report_holders()
            raise
