"""Django's own runner, plus a report of who holds the test databases when
its teardown fails: one HOLDER line per session in a test database, with the
backend on another node that opened it (Citus names its inter-node
connections 'citus_internal gpid=<node id * 10^10 + pid>')."""
import re
import sys

import psycopg2
from django.conf import settings
from django.db import OperationalError
from django.test.runner import DiscoverRunner

GPID = re.compile(r"^citus_internal gpid=(\d+)$")


def node_activity():
    """pg_stat_activity of every node Django knows, by alias."""
    activity = {}
    for alias, db in settings.DATABASES.items():
        if not db.get("ENGINE", "").endswith("postgresql"):
            continue
        conn = psycopg2.connect(
            dbname="postgres", user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"]
        )
        with conn, conn.cursor() as cursor:
            cursor.execute(
                "SELECT pid, datname, coalesce(application_name, ''), coalesce(backend_type, ''),"
                " coalesce(host(client_addr) || ':' || client_port, 'local')"
                " FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
            )
            activity[alias] = cursor.fetchall()
        conn.close()
    return activity


def report_holders():
    activity = node_activity()
    by_pid = {row[0]: (alias, row) for alias, rows in activity.items() for row in rows}
    for alias, rows in sorted(activity.items()):
        for pid, datname, app, backend_type, client in rows:
            if not (datname or "").startswith("test_"):
                continue
            origin = "-"
            m = GPID.match(app)
            if m and int(m.group(1)) % 10**10 in by_pid:
                o_alias, (o_pid, o_db, o_app, o_type, o_client) = by_pid[int(m.group(1)) % 10**10]
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
