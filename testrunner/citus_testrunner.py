# Printed by citusgen: citusgen testrunner > citus_testrunner.py
"""Django test runner support for a Citus cluster whose test databases
Django creates (citusgen's dev profile: ROLE, CITUS_NODE_NAME and
TEST.DEPENDENCIES in DATABASES).

Why it is needed: Django drops test databases in the order it created them,
so every worker's goes before the coordinator's, and a plain DROP DATABASE
on a worker then fails ("database ... is being accessed by other users").
The sessions in the way are Citus's own: the maintenance daemons of the
coordinator and of the other workers keep idle connections in each worker's
test database (distributed deadlock detection, two-phase commit recovery),
and the coordinator session Django ran its queries in keeps its cached
connections to the workers. No connection setting of Django reaches the
daemons, which run on the other nodes.

What it does, for the cluster's aliases only:
- teardown drops the coordinator's test database before its workers' (the
  order TEST.DEPENDENCIES implies), so the coordinator's daemon and Django's
  session end first;
- every drop is DROP DATABASE ... WITH (FORCE) (PostgreSQL 13+), which ends
  the sessions the workers' daemons hold in each other's test database;
- before setup, it drops test databases an interrupted run left behind the
  same way (without asking under --noinput, as Django would replace them;
  after Django's question otherwise), since Django's own replacement is a
  plain DROP DATABASE too.

Use the ready runner:

    TEST_RUNNER = "citus_testrunner.CitusDiscoverRunner"

or mix it into your own (it must come before the DiscoverRunner base):

    class TestRunner(CitusTestDatabasesMixin, MyDiscoverRunner):
        pass
"""
from django.conf import settings
from django.db import connections
from django.test.runner import DiscoverRunner

CITUS_ROLES = ("citus_master", "citus_worker")


def citus_aliases():
    """The aliases of the Citus cluster: those with a Citus ROLE or a
    CITUS_NODE_NAME, and any alias whose test database depends on one (the
    coordinator, which has neither in citusgen's ci profile)."""
    dbs = settings.DATABASES
    nodes = {a for a, db in dbs.items() if db.get("ROLE") in CITUS_ROLES or db.get("CITUS_NODE_NAME")}
    return nodes | {a for a, db in dbs.items() if nodes & set(db.get("TEST", {}).get("DEPENDENCIES", ()))}


def drop_with_force(connection):
    """Make Django's destroy_test_db drop this alias's test databases WITH
    (FORCE). Django has no setting for this: its _destroy_test_db runs a
    plain DROP DATABASE."""
    creation = connection.creation

    def _destroy_test_db(test_database_name, verbosity):
        name = connection.ops.quote_name(test_database_name)
        with creation._nodb_cursor() as cursor:
            force = " WITH (FORCE)" if cursor.connection.server_version >= 130000 else ""
            cursor.execute("DROP DATABASE %s%s" % (name, force))

    creation._destroy_test_db = _destroy_test_db


def depth(alias, path=()):
    """How many levels of TEST.DEPENDENCIES lie below an alias: 0 for a
    worker, 1 for its coordinator."""
    deps = settings.DATABASES.get(alias, {}).get("TEST", {}).get("DEPENDENCIES", ())
    return 1 + max((depth(d, path + (alias,)) for d in deps if d not in path), default=-1)


def dependents_first(old_config):
    """setup_databases' result reordered so that each alias is destroyed
    before the aliases its TEST.DEPENDENCIES name; others keep their order."""
    return sorted(old_config, key=lambda item: -depth(item[0].alias))


def drop_cluster_databases_with_force():
    for alias in citus_aliases():
        if connections[alias].vendor == "postgresql":
            drop_with_force(connections[alias])


def drop_leftover_test_databases(aliases, interactive, verbosity):
    """Drop the test databases of these aliases that an interrupted run left
    behind, coordinator first, after the question Django would ask. Django
    replaces a leftover itself with a plain DROP DATABASE, which fails here
    for the same reason its teardown does."""
    for alias in sorted(aliases, key=lambda a: (-depth(a), a)):
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        name = connection.creation._get_test_db_name()
        with connection.creation._nodb_cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                continue
        if interactive:
            question = "Type 'yes' if you would like to try deleting the test database '%s' left on %s, or 'no' to cancel: "
            if input(question % (name, alias)) != "yes":
                continue  # Django asks again, and stops when told no
        if verbosity >= 1:
            connection.creation.log("Destroying old test database for alias '%s' (WITH FORCE)..." % alias)
        connection.creation._destroy_test_db(name, verbosity)


class CitusTestDatabasesMixin:
    def setup_databases(self, **kwargs):
        drop_cluster_databases_with_force()
        if not getattr(self, "keepdb", False):
            # Only those Django is about to create (aliases: what the tests use).
            aliases = citus_aliases()
            if kwargs.get("aliases") is not None:
                aliases &= set(kwargs["aliases"])
            drop_leftover_test_databases(aliases, getattr(self, "interactive", True), getattr(self, "verbosity", 1))
        return super().setup_databases(**kwargs)

    def teardown_databases(self, old_config, **kwargs):
        drop_cluster_databases_with_force()
        return super().teardown_databases(dependents_first(list(old_config)), **kwargs)


class CitusDiscoverRunner(CitusTestDatabasesMixin, DiscoverRunner):
    pass
