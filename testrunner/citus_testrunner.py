# Printed by citusgen: citusgen testrunner > citus_testrunner.py
"""Django test runner support for a Citus cluster in DATABASES (citusgen's
settings: a coordinator alias whose TEST.DEPENDENCIES name its workers, each
worker with CITUS_NODE_NAME; ROLE keys in the dev profile).

Use the ready runner:

    TEST_RUNNER = "citus_testrunner.CitusDiscoverRunner"

or mix it into your own (it must come before the DiscoverRunner base):

    class TestRunner(CitusTestDatabasesMixin, MyDiscoverRunner):
        pass

What it does, for the cluster's aliases only:

- Every test database of the cluster is a working Citus cluster. Django
  creates plain databases; right after it creates each node's (before its
  migrations run) the runner creates the citus extension in it and stores the
  inter-node credentials the live cluster stores (pg_dist_authinfo, copied
  from the node's live cluster database: NAME, or the test database itself
  when that is the live one, as in citusgen's ci profile; read before
  anything is dropped). A node with no live cluster database gets the row
  `citusgen bootstrap` stores: the alias's USER with the coordinator's
  PASSWORD, for every other node. Once every node's test database has the
  extension, it sets the coordinator's host as the live cluster has it and
  registers each worker at its CITUS_NODE_NAME in the coordinator's test
  database. Citus reaches a worker's database by the
  coordinator's database name, so every node's test database has one name.
  With --keepdb all of this leaves an already set-up database as it is.

- A test that names any alias of the cluster in its `databases` gets the whole
  cluster: the runner adds the other nodes' aliases to the databases it sets
  up, and says so. Django would otherwise refuse a coordinator without its
  workers ("Circular dependency in TEST[DEPENDENCIES]": the workers it depends
  on are not set up). A dependency no test names is reported by name instead
  of that message.

- Teardown drops the coordinator's test database before its workers' (the
  order TEST.DEPENDENCIES implies), and every drop is DROP DATABASE ... WITH
  (FORCE) (PostgreSQL 13+). Django drops in creation order, workers first,
  with a plain DROP DATABASE, which fails: the maintenance daemons of the
  coordinator and of the other workers keep idle connections in each worker's
  test database (deadlock detection, two-phase commit recovery), and so does
  the coordinator session Django ran its queries in. No connection setting of
  Django reaches the daemons, which run on the other nodes.

- Before setup it drops test databases an interrupted run left behind the
  same way (without asking under --noinput, as Django would replace them;
  after Django's question otherwise), since Django's own replacement is a
  plain DROP DATABASE too.
"""
import sys
import time
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.test.runner import DiscoverRunner

CITUS_ROLES = ("citus_master", "citus_worker")


def test_settings(alias):
    return settings.DATABASES.get(alias, {}).get("TEST", {})


def dependencies(alias):
    return list(test_settings(alias).get("DEPENDENCIES", ()))


def is_node(db):
    return db.get("ROLE") in CITUS_ROLES or bool(db.get("CITUS_NODE_NAME"))


def is_worker(db):
    return db.get("ROLE") == "citus_worker" or (bool(db.get("CITUS_NODE_NAME")) and db.get("ROLE") != "citus_master")


def citus_aliases():
    """The aliases of the Citus cluster: those with a Citus ROLE or a
    CITUS_NODE_NAME, and any alias whose test database depends on one (the
    coordinator, which has neither in citusgen's ci profile)."""
    dbs = settings.DATABASES
    nodes = {a for a, db in dbs.items() if is_node(db)}
    return nodes | {a for a in dbs if nodes & set(dependencies(a))}


class Cluster:
    """A coordinator alias and its workers' aliases."""

    def __init__(self, coordinator, workers):
        self.coordinator = coordinator
        self.workers = workers

    @property
    def aliases(self):
        return [self.coordinator] + self.workers


def clusters():
    """Each coordinator (ROLE citus_master, or an alias whose
    TEST.DEPENDENCIES name workers) with its workers: those its
    TEST.DEPENDENCIES name, or, for a coordinator without any, every worker
    when it is the only coordinator."""
    dbs = settings.DATABASES
    workers = [a for a, db in dbs.items() if is_worker(db)]
    coordinators = [
        a for a, db in dbs.items() if a not in workers and (db.get("ROLE") == "citus_master" or set(dependencies(a)) & set(workers))
    ]
    out = []
    for c in coordinators:
        mine = [w for w in dependencies(c) if w in workers]
        if not mine and len(coordinators) == 1:
            mine = workers
        out.append(Cluster(c, mine))
    return out


def node_address(alias):
    """How the coordinator reaches a worker: CITUS_NODE_NAME ('host:port'),
    else the alias's HOST and PORT (as CommCare HQ reads it)."""
    db = settings.DATABASES[alias]
    node_name = db.get("CITUS_NODE_NAME")
    if node_name:
        host, _, port = node_name.rpartition(":")
    else:
        host, port = db.get("HOST") or "localhost", db.get("PORT") or 5432
    return host, int(port)


@contextmanager
def cursor_on(alias, database):
    """A cursor in another database of this alias's server, on a connection
    of its own (autocommit), closed afterwards."""
    connection = connections[alias]
    conn = connection.__class__({**connection.settings_dict, "NAME": database}, alias=alias)
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.close()


def drop_with_force(connection):
    """Make Django's destroy_test_db drop this alias's test databases WITH
    (FORCE). Django has no setting for this: its _destroy_test_db runs a
    plain DROP DATABASE."""
    creation = connection.creation

    def _destroy_test_db(test_database_name, verbosity):
        name = connection.ops.quote_name(test_database_name)
        with creation._nodb_cursor() as cursor:
            if cursor.connection.server_version < 130000:
                cursor.execute("DROP DATABASE %s" % name)
            else:
                drop_forced(cursor, name, lambda m: creation.log("%s (alias '%s')" % (m, connection.alias)))

    creation._destroy_test_db = _destroy_test_db


# How long a drop keeps ending sessions that are slow to exit.
DROP_PATIENCE = 120


def drop_forced(cursor, name, log):
    """DROP DATABASE name WITH (FORCE), again while it fails because a session
    it ended has not exited yet: PostgreSQL waits 5 seconds for them, which a
    busy machine (or a Citus backend in the middle of its work) outlasts.
    The error is caught here: Django 3.2's _nodb_cursor turns an error
    raised inside it into "generator didn't stop after throw()"."""
    deadline = time.monotonic() + DROP_PATIENCE
    said = False
    while True:
        try:
            cursor.execute("DROP DATABASE %s WITH (FORCE)" % name)
            return
        except DatabaseError as e:
            cause = e.__cause__
            code = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
            if code != "55006" or time.monotonic() > deadline:  # object_in_use
                raise
            if not said:
                detail = " ".join(str(e).split())
                log("Dropping %s: a session it ended has not exited yet (%s); ending the sessions and trying again..." % (name, detail))
                said = True
        time.sleep(0.5)


def depth(alias, path=()):
    """How many levels of TEST.DEPENDENCIES lie below an alias: 0 for a
    worker, 1 for its coordinator."""
    deps = dependencies(alias)
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


def quoted(names):
    return ", ".join("'%s'" % n for n in names)


def with_whole_clusters(aliases, verbosity):
    """The aliases to set up, with every node of each cluster one of them
    belongs to: a coordinator is no Citus cluster without its workers, nor a
    worker without its coordinator."""
    aliases = set(aliases)
    for cluster in clusters():
        named = [a for a in cluster.aliases if a in aliases]
        missing = [a for a in cluster.aliases if a not in aliases]
        if named and missing:
            aliases.update(missing)
            if verbosity >= 1:
                print(
                    "Also setting up the test databases of %s: the tests use %s, and its Citus cluster"
                    " (coordinator '%s') needs the test database of every node."
                    % (quoted(missing), quoted(named), cluster.coordinator),
                    file=sys.stderr,
                )
    return aliases


def implied_dependencies(alias):
    """TEST.DEPENDENCIES as Django reads them: an alias without the key
    depends on 'default' when their test databases differ."""
    test = test_settings(alias)
    if "DEPENDENCIES" in test:
        return list(test["DEPENDENCIES"])
    if alias == DEFAULT_DB_ALIAS or DEFAULT_DB_ALIAS not in settings.DATABASES:
        return []
    if connections[alias].creation.test_db_signature() == connections[DEFAULT_DB_ALIAS].creation.test_db_signature():
        return []
    return [DEFAULT_DB_ALIAS]


def check_dependencies(aliases):
    """Django reports a dependency that no test uses as "Circular dependency
    in TEST[DEPENDENCIES]"; say which one it is."""
    for alias in sorted(aliases):
        if test_settings(alias).get("MIRROR"):
            continue
        for dep in implied_dependencies(alias):
            if dep in aliases:
                continue
            explicit = "DEPENDENCIES" in test_settings(alias)
            how = "its TEST.DEPENDENCIES name" if explicit else "Django makes an alias without TEST.DEPENDENCIES depend on"
            hint = ""
            if not explicit and alias in citus_aliases():
                hint = " (citusgen's settings give each worker 'DEPENDENCIES': []: render them again)"
            raise ImproperlyConfigured(
                "The test database of '%s' depends on '%s' (%s it), and no test in this run uses '%s': "
                "add '%s' to the databases of the tests that use '%s'%s."
                % (alias, dep, how, dep, dep, alias, hint)
            )


class CitusTestSetup:
    """Makes the cluster's test databases a working Citus cluster as Django
    creates them."""

    def __init__(self, aliases, verbosity):
        used = set(connections) if aliases is None else set(aliases)
        self.verbosity = verbosity
        self.clusters = [
            c for c in clusters() if c.coordinator in used and connections[c.coordinator].vendor == "postgresql"
        ]
        dbs = settings.DATABASES
        nodes = {a for c in self.clusters for a in c.aliases}
        nodes |= {a for a, db in dbs.items() if is_node(db) and a in used and connections[a].vendor == "postgresql"}
        self.nodes = sorted(nodes)
        self.prepared = {}  # alias -> its test database, once it has the extension
        self.registered = set()
        for cluster in self.clusters:
            names = {a: connections[a].creation._get_test_db_name() for a in cluster.aliases}
            if len(set(names.values())) > 1:
                raise ImproperlyConfigured(
                    "The test databases of the Citus cluster of '%s' have different names (%s): Citus reaches a"
                    " worker in the database of the coordinator's name, so give every node the same TEST.NAME"
                    " (or NAME)." % (cluster.coordinator, ", ".join("%s: %s" % kv for kv in sorted(names.items())))
                )
        # Read before anything is dropped: in citusgen's ci profile the live
        # cluster database is the test database itself.
        self.live = {alias: self.read_live(alias) for alias in self.nodes}

    def log(self, alias, message, level=1):
        if self.verbosity >= level:
            connections[alias].creation.log(message)

    def read_live(self, alias):
        """The node's live cluster database: its name, pg_dist_authinfo rows
        and the coordinator's own pg_dist_node row; None without one."""
        connection = connections[alias]
        candidates = [connection.settings_dict["NAME"], connection.creation._get_test_db_name()]
        for database in dict.fromkeys(d for d in candidates if d):
            try:
                with cursor_on(alias, database) as cursor:
                    cursor.execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus'")
                    if cursor.fetchone() is None:
                        continue
                    cursor.execute("SELECT nodeid, rolename, authinfo FROM pg_catalog.pg_dist_authinfo ORDER BY 1, 2")
                    authinfo = cursor.fetchall()
                    cursor.execute("SELECT nodename, nodeport FROM pg_catalog.pg_dist_node WHERE groupid = 0")
                    coordinator = cursor.fetchone()
            except DatabaseError:
                continue  # no such database here, or no right to read it
            return {"database": database, "authinfo": authinfo, "coordinator": coordinator}
        return None

    def install(self):
        for alias in self.nodes:
            self.wrap_create(alias)

    def wrap_create(self, alias):
        creation = connections[alias].creation
        create = creation._create_test_db

        def _create_test_db(verbosity, autoclobber, keepdb=False):
            name = create(verbosity, autoclobber, keepdb)
            self.prepare(alias, name)
            for cluster in self.clusters:
                if alias in cluster.aliases:
                    self.register_when_ready(cluster)
            return name

        creation._create_test_db = _create_test_db

    def settings_authinfo(self, alias):
        """Without a live cluster database on the node (citusgen's ci profile
        after a run without --keepdb dropped it), the row citusgen bootstrap
        stores: every other node (0), the alias's USER, the cluster's
        password (the coordinator's PASSWORD)."""
        coordinator = next((c.coordinator for c in self.clusters if alias in c.aliases), alias)
        password = settings.DATABASES[coordinator].get("PASSWORD") or ""
        user = settings.DATABASES[alias].get("USER") or ""
        if not password or not user:
            return []
        value = "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return [(0, user, "password=" + value)]

    def prepare(self, alias, database):
        """The extension and the live cluster's inter-node credentials in a
        node's test database."""
        live = self.live.get(alias)
        rows = live["authinfo"] if live else self.settings_authinfo(alias)
        copied, skipped = 0, []
        with cursor_on(alias, database) as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS citus")
            for nodeid, rolename, authinfo in rows:
                if nodeid > 0:
                    # A row for one node id of the live cluster: the test
                    # cluster numbers its nodes anew.
                    skipped.append("%s (node %d)" % (rolename, nodeid))
                    continue
                cursor.execute(
                    "INSERT INTO pg_catalog.pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (%s, %s, %s)"
                    " ON CONFLICT (rolename, nodeid) DO UPDATE SET authinfo = EXCLUDED.authinfo"
                    " WHERE pg_dist_authinfo.authinfo IS DISTINCT FROM EXCLUDED.authinfo",
                    [nodeid, rolename, authinfo],
                )
                copied += 1
        if live is None:
            source = "no live cluster database with Citus on this node: %d pg_dist_authinfo row%s from the settings" % (
                copied, "" if copied == 1 else "s")
        else:
            source = "%d pg_dist_authinfo row%s copied from '%s'" % (copied, "" if copied == 1 else "s", live["database"])
        self.log(alias, "Created the citus extension in the test database for alias '%s' (%s)..." % (alias, source), 2)
        if skipped:
            self.log(alias, "Not copied to the test database for alias '%s': pg_dist_authinfo rows for single nodes of the"
                     " live cluster (%s); the test cluster uses the rows for every node (node id 0) only." % (alias, ", ".join(skipped)))
        self.prepared[alias] = database

    def register_when_ready(self, cluster):
        """Register the workers once every node of the cluster has the
        extension: with TEST.DEPENDENCIES that is when the coordinator's test
        database is created, before its migrations run."""
        if cluster.coordinator in self.registered or not all(a in self.prepared for a in cluster.aliases):
            return
        database = self.prepared[cluster.coordinator]
        live = self.live.get(cluster.coordinator) or {}
        added = []
        with cursor_on(cluster.coordinator, database) as cursor:
            if live.get("coordinator"):
                host, port = live["coordinator"]
                cursor.execute(
                    "SELECT 1 FROM pg_catalog.pg_dist_node WHERE groupid = 0 AND nodename = %s AND nodeport = %s", [host, port]
                )
                if cursor.fetchone() is None:
                    cursor.execute("SELECT pg_catalog.citus_set_coordinator_host(%s, %s)", [host, port])
            for worker in cluster.workers:
                host, port = node_address(worker)
                cursor.execute("SELECT 1 FROM pg_catalog.pg_dist_node WHERE nodename = %s AND nodeport = %s", [host, port])
                if cursor.fetchone() is not None:
                    continue
                try:
                    cursor.execute("SELECT pg_catalog.citus_add_node(%s, %s)", [host, port])
                except DatabaseError as e:
                    raise RuntimeError(
                        "Could not register worker '%s' (%s:%d, its CITUS_NODE_NAME) in the test database '%s' of"
                        " the coordinator '%s': %s\nThe runner gives the test databases the inter-node credentials"
                        " of the live cluster database (pg_dist_authinfo in NAME on each node; `citusgen bootstrap`"
                        " stores them); check that the live cluster works (`citusgen verify`)."
                        % (worker, host, port, database, cluster.coordinator, str(e).strip())
                    ) from e
                added.append("%s:%d" % (host, port))
        self.registered.add(cluster.coordinator)
        if added:
            self.log(
                cluster.coordinator,
                "Registered Citus worker%s %s in the test database for alias '%s'..."
                % ("" if len(added) == 1 else "s", ", ".join(added), cluster.coordinator),
            )

    def finish(self):
        """Clusters Django created out of order (no TEST.DEPENDENCIES) are
        registered once all their test databases exist."""
        for cluster in self.clusters:
            self.register_when_ready(cluster)


class CitusTestDatabasesMixin:
    def setup_databases(self, **kwargs):
        drop_cluster_databases_with_force()
        verbosity = getattr(self, "verbosity", 1)
        if kwargs.get("aliases") is not None:
            kwargs["aliases"] = with_whole_clusters(kwargs["aliases"], verbosity)
            check_dependencies(kwargs["aliases"])
        citus = CitusTestSetup(kwargs.get("aliases"), verbosity)
        citus.install()
        if not getattr(self, "keepdb", False):
            # Only those Django is about to create (aliases: what the tests use).
            aliases = citus_aliases()
            if kwargs.get("aliases") is not None:
                aliases &= set(kwargs["aliases"])
            drop_leftover_test_databases(aliases, getattr(self, "interactive", True), verbosity)
        old_config = super().setup_databases(**kwargs)
        citus.finish()
        return old_config

    def teardown_databases(self, old_config, **kwargs):
        drop_cluster_databases_with_force()
        return super().teardown_databases(dependents_first(list(old_config)), **kwargs)


class CitusDiscoverRunner(CitusTestDatabasesMixin, DiscoverRunner):
    pass
