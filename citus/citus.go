// Package citus is the one place that knows Citus itself: its SQL surface,
// its releases and image tags, and what compose files say about its nodes.
package citus

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/distribution/reference"

	"github.com/citusgen/citusgen/quote"
)

func lit(s string) string { return quote.SQLLiteral(s) }

// Authinfo is the pg_dist_authinfo value for a password: a libpq conninfo
// fragment, quoted so any character survives.
func Authinfo(password string) string {
	return "password=" + quote.ConninfoValue(password)
}

// ---- statements bootstrap runs (each with the guard that makes it idempotent)

// UpsertAuthinfo stores $1 as the credentials the user connects to every
// other node with (nodeid 0), rewriting the row only when it differs.
func UpsertAuthinfo(user string) string {
	return "INSERT INTO pg_catalog.pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, " + lit(user) + ", $1)\n" +
		"    ON CONFLICT (rolename, nodeid) DO UPDATE SET authinfo = EXCLUDED.authinfo\n" +
		"    WHERE pg_dist_authinfo.authinfo IS DISTINCT FROM EXCLUDED.authinfo"
}

// SetCoordinatorHost adds the coordinator's own row, or renames it.
func SetCoordinatorHost(host string, port int) (sql, guard string) {
	return fmt.Sprintf("SELECT pg_catalog.citus_set_coordinator_host(%s, %d)", lit(host), port),
		fmt.Sprintf("NOT EXISTS (SELECT FROM pg_catalog.pg_dist_node WHERE groupid = 0 AND nodename = %s AND nodeport = %d)", lit(host), port)
}

// AddNode registers a worker.
func AddNode(host string, port int) (sql, guard string) {
	return fmt.Sprintf("SELECT pg_catalog.citus_add_node(%s, %d)", lit(host), port),
		fmt.Sprintf("NOT EXISTS (SELECT FROM pg_catalog.pg_dist_node WHERE nodename = %s AND nodeport = %d)", lit(host), port)
}

// ActivateNode activates an inactive worker (and syncs the metadata to it).
func ActivateNode(host string, port int) string {
	return fmt.Sprintf("SELECT pg_catalog.citus_activate_node(%s, %d)", lit(host), port)
}

// SyncMetadata copies the coordinator's metadata to every metadata worker
// again, whole: it repairs a worker that lost its metadata (database or
// extension recreated) and finishes the syncs a rename leaves pending.
const SyncMetadata = "SELECT pg_catalog.start_metadata_sync_to_all_nodes()"

// InactiveGuard is true while the worker is registered but inactive.
func InactiveGuard(host string, port int) string {
	return fmt.Sprintf("EXISTS (SELECT FROM pg_catalog.pg_dist_node WHERE nodename = %s AND nodeport = %d AND NOT isactive)", lit(host), port)
}

// UpdateNode renames a registration in place: the node keeps its id, group
// and shard placements, and Citus tells the metadata workers.
func UpdateNode(id int32, host string, port int) (sql, guard string) {
	return fmt.Sprintf("SELECT pg_catalog.citus_update_node(%d, %s, %d)", id, lit(host), port),
		fmt.Sprintf("EXISTS (SELECT FROM pg_catalog.pg_dist_node WHERE nodeid = %d AND (nodename, nodeport) IS DISTINCT FROM (%s, %d))", id, lit(host), port)
}

// RemoveNonPrimary removes a registration whose role is not primary (a
// secondary holds no placements of its own), so it can be added again as a
// primary.
func RemoveNonPrimary(host string, port int) (sql, guard string) {
	return fmt.Sprintf("SELECT pg_catalog.citus_remove_node(%s, %d)", lit(host), port),
		fmt.Sprintf("EXISTS (SELECT FROM pg_catalog.pg_dist_node WHERE nodename = %s AND nodeport = %d AND noderole <> 'primary')", lit(host), port)
}

// ---- reading

// NodeCatalog reads, on any node with the extension, its own pg_dist_node
// (whole rows as JSON, so columns of other versions are harmless), its
// local group and the authinfo rows, the values as SHA-256 hashes so no
// password leaves the server; then what its own metadata places on it: the
// shards of distributed tables in its group, and how many distributed
// tables it knows (a worker of another cluster holds that cluster's).
const NodeCatalog = `SELECT (SELECT coalesce(json_agg(row_to_json(n) ORDER BY n.nodeid), '[]') FROM pg_catalog.pg_dist_node n)::text,
       coalesce((SELECT groupid FROM pg_catalog.pg_dist_local_group), -1),
       (SELECT coalesce(json_agg(json_build_array(a.nodeid, a.rolename::text, encode(sha256(convert_to(a.authinfo, 'UTF8')), 'hex'))), '[]') FROM pg_catalog.pg_dist_authinfo a)::text,
       (SELECT count(*) FROM pg_catalog.pg_dist_placement pl
          JOIN pg_catalog.pg_dist_shard s ON s.shardid = pl.shardid
          JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid = s.logicalrelid
         WHERE p.partmethod = 'h' AND pl.groupid = (SELECT groupid FROM pg_catalog.pg_dist_local_group)),
       (SELECT count(*) FROM pg_catalog.pg_dist_partition WHERE partmethod = 'h')`

// Shards counts the placements of distributed (hash) tables per group: a
// catalog read, no calls to the workers.
const Shards = `SELECT (SELECT coalesce(json_agg(json_build_array(groupid, n)), '[]') FROM
          (SELECT pl.groupid, count(*) AS n
             FROM pg_catalog.pg_dist_placement pl
             JOIN pg_catalog.pg_dist_shard s ON s.shardid = pl.shardid
             JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid = s.logicalrelid
            WHERE p.partmethod = 'h' GROUP BY pl.groupid) c)::text`

// Reshape reads what a rebalance would do: the moves Citus's rebalancer
// plans now (computed only when there are distributed tables to weigh),
// the rebalance jobs still running, and wal_level, which decides how shards
// move.
const Reshape = `SELECT CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE partmethod = 'h')
            THEN (SELECT count(*) FROM pg_catalog.get_rebalance_table_shards_plan()) ELSE 0 END,
       (SELECT coalesce(json_agg(json_build_array(j.job_id, j.state::text,
               (SELECT count(*) FROM pg_catalog.pg_dist_background_task t WHERE t.job_id = j.job_id),
               (SELECT count(*) FROM pg_catalog.pg_dist_background_task t WHERE t.job_id = j.job_id AND t.status = 'done')) ORDER BY j.job_id), '[]')
          FROM pg_catalog.pg_dist_background_job j
         WHERE j.job_type = 'rebalance' AND j.state IN ('scheduled', 'running', 'cancelling', 'failing'))::text,
       current_setting('wal_level')`

// ShardBytes sums the size of a node's distributed shards (Citus asks the
// node), and counts the shards it could not size: a node Citus cannot reach
// gets NULL sizes and a warning, not an error.
const ShardBytes = "SELECT coalesce(sum(shard_size), 0)::bigint, count(*) - count(shard_size) FROM pg_catalog.citus_shards WHERE nodename = $1 AND nodeport = $2 AND citus_table_type = 'distributed'"

// ShardsLeft counts the distributed shards still on a node; $1, $2 as above.
const ShardsLeft = "SELECT count(*) FROM pg_catalog.citus_shards WHERE nodename = $1 AND nodeport = $2 AND citus_table_type = 'distributed'"

// ---- health and smoke

// SetConnectionTimeout bounds each inter-node connection Citus opens.
func SetConnectionTimeout(ms int64) string {
	return fmt.Sprintf("SET citus.node_connection_timeout TO %d", ms)
}

// CheckConnections asks one node whether it can reach each of $1 (names)
// at $2 (ports), in order: what citus_check_cluster_node_health() runs for
// one source.
const CheckConnections = "SELECT pg_catalog.citus_check_connection_to_node(t.name, t.port) FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS t(name, port, n) ORDER BY n"

// ClusterHealth is every pair, run by the coordinator itself.
const ClusterHealth = "SELECT from_nodename, from_nodeport, to_nodename, to_nodeport, result FROM pg_catalog.citus_check_cluster_node_health()"

// Distribute makes a table distributed by a column.
func Distribute(table, column string) string {
	return fmt.Sprintf("SELECT pg_catalog.create_distributed_table(%s, %s)", lit(table), lit(column))
}

// CountPlacements counts a distributed table's rows, shards and the nodes
// holding them; $1 is the table name.
func CountPlacements(quotedTable string) string {
	return "SELECT (SELECT count(*) FROM " + quotedTable + "), count(*), count(DISTINCT nodename || ':' || nodeport) FROM pg_catalog.citus_shards WHERE table_name = $1::regclass"
}

// ---- reshaping

// CleanupOrphans drops what earlier moves left for deferred cleanup: a
// move onto a node that still holds its orphaned copy of the shard fails.
const CleanupOrphans = "CALL pg_catalog.citus_cleanup_orphaned_resources()"

// RebalanceStart starts the background rebalancer; $1 is the transfer mode.
const RebalanceStart = "SELECT pg_catalog.citus_rebalance_start(shard_transfer_mode := $1::citus.shard_transfer_mode)"

// RebalanceStatus is a job's state and its details JSON; $1 is the job id.
const RebalanceStatus = "SELECT state::text, coalesce(details::text, '{}') FROM pg_catalog.citus_rebalance_status() WHERE job_id = $1"

// RebalanceStop stops the running rebalance.
const RebalanceStop = "SELECT pg_catalog.citus_rebalance_stop()"

// JobTasks lists a job's tasks: id, status, command and the error of its
// last failed attempt (Citus retries a failed task; "" when none failed);
// $1 is the job id.
const JobTasks = "SELECT task_id, status::text, command, coalesce(message, '') FROM pg_catalog.pg_dist_background_task WHERE job_id = $1 ORDER BY task_id"

// CheckConnection asks the coordinator whether it can connect to a node;
// $1 is its name and $2 its port.
const CheckConnection = "SELECT pg_catalog.citus_check_connection_to_node($1, $2)"

// Rebalance job states (pg_dist_background_job.state): JobFinished ends
// a job with its moves done; JobFailed are the states of a job that ended,
// or is ending, without them.
const JobFinished = "finished"

var JobFailed = map[string]bool{"failed": true, "cancelled": true, "failing": true, "cancelling": true}

// MoveCommand recognises a shard move in a task's command: shard id, source
// node id and target node id.
const MoveCommand = `citus_move_shard_placement\((\d+),\s*(\d+),\s*(\d+)`

// Drain moves every shard off a node; $1, $2 name it, $3 is the transfer mode.
const Drain = "SELECT pg_catalog.citus_drain_node($1, $2, shard_transfer_mode := $3::citus.shard_transfer_mode)"

// OrphansOn counts what moves off a node left there for deferred cleanup;
// $1, $2 name the node.
const OrphansOn = "SELECT count(*) FROM pg_catalog.pg_dist_cleanup c JOIN pg_catalog.pg_dist_node n ON n.groupid = c.node_group_id WHERE n.nodename = $1 AND n.nodeport = $2"

// RemoveNode removes a registration; $1, $2 name it.
const RemoveNode = "SELECT pg_catalog.citus_remove_node($1, $2)"

// TablesWithoutReplicaIdentity counts distributed tables logical
// replication cannot move.
const TablesWithoutReplicaIdentity = `SELECT count(*) FROM pg_catalog.pg_dist_partition p JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
	WHERE c.relreplident = 'n' OR (c.relreplident = 'd' AND NOT EXISTS (SELECT FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))`

// TransferMode picks how shards move.
func TransferMode(walLevel string) (mode, why string) {
	if walLevel == "logical" {
		return "auto", "wal_level is logical: shards move by logical replication (writes keep flowing)"
	}
	return "block_writes", fmt.Sprintf("wal_level is %s, not logical: shards move with block_writes (reads go on; writes to a moving shard wait)", walLevel)
}

// ---- versions

// ImageVersion reads the Citus version an image's tag names: the citus
// images are tagged MAJOR.MINOR[.PATCH][-VARIANT] (citusdata/citus:14.1,
// :13.2.2, :12.1.5-pg15).
func ImageVersion(image string) (major, minor int, ok bool) {
	ref, err := reference.ParseNormalizedNamed(image)
	tagged, isTagged := ref.(reference.Tagged)
	if err != nil || !isTagged || !IsCitusImage(image) {
		return 0, 0, false
	}
	m := imageTag.FindStringSubmatch(tagged.Tag())
	if m == nil {
		return 0, 0, false
	}
	major, _ = strconv.Atoi(m[1])
	minor = -1
	if m[2] != "" {
		minor, _ = strconv.Atoi(m[2])
	}
	return major, minor, true
}

var imageTag = regexp.MustCompile(`^(\d+)(?:\.(\d+))?(?:\.\d+)?(?:-[A-Za-z0-9._-]+)?$`)

// SameRelease reports whether an extension version ("14.0-1") is the
// release an image tag names: the same major, and the same minor when the
// tag has one.
func SameRelease(extversion string, major, minor int) bool {
	ma, rest, _ := strings.Cut(extversion, ".")
	mi, _, _ := strings.Cut(rest, "-")
	m, err1 := strconv.Atoi(ma)
	n, err2 := strconv.Atoi(mi)
	return err1 == nil && err2 == nil && m == major && (minor < 0 || n == minor)
}

// What compose files say about a Citus cluster: the words citusgen writes
// into the files it renders and looks for in the files it reads (import,
// --adopt), kept here so that the two always agree.

// RoleLabel is the label the citusdata images' own compose files give each
// node; its value is RoleMaster on the coordinator, RoleWorker on a worker.
const (
	RoleLabel  = "com.citusdata.role"
	RoleMaster = "Master"
	RoleWorker = "Worker"
)

// The services citusgen adds beside the nodes; no node may be named so.
const (
	// SetupService runs the bootstrap script inside the compose network
	// once every node is healthy (compose.setup).
	SetupService = "citus_setup"
	// ManagerService runs the membership manager, the older way of
	// registering workers (compose.membership_manager).
	ManagerService = "citus_manager"
)

// ManagerRepository is the membership manager's image repository. A
// service running it registers workers, as citusgen's setup service does.
const ManagerRepository = "citusdata/membership-manager"

// repositoryPath is the path of an image reference's repository, without
// its registry, tag or digest: citus for citus:13 (Docker Hub's library
// images have library/ in front), mirror/citus for
// registry.example.com:5000/mirror/citus:12.1.
func repositoryPath(image string) (string, bool) {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", false
	}
	return reference.Path(ref), true
}

// IsCitusImage reports whether an image reference names a citus image: a
// repository named citus, in any registry or organisation (mirrors keep
// that name).
func IsCitusImage(image string) bool {
	path, ok := repositoryPath(image)
	return ok && (path == "citus" || strings.HasSuffix(path, "/citus"))
}

// IsManagerImage reports whether an image reference names the membership
// manager, in any registry.
func IsManagerImage(image string) bool {
	path, ok := repositoryPath(image)
	return ok && path == ManagerRepository
}

// Where an image keeps its data follows from its PostgreSQL major: the
// postgres images (and so the citus images built on them) up to 17 set
// PGDATA to /var/lib/postgresql/data and declare that directory a volume;
// from 18 they keep data in /var/lib/postgresql/MAJOR/docker, declare
// /var/lib/postgresql the volume, and their entrypoint exits 1 when
// anything is mounted at /var/lib/postgresql/data (docker-library/postgres
// #1259).
const (
	// LayoutMajor is the first major with the new layout.
	LayoutMajor = 18
	dataDirOld  = "/var/lib/postgresql/data"
	dataDirNew  = "/var/lib/postgresql"
)

// DataVolume is the directory an image of PostgreSQL major declares as its
// volume: where a node's data volume is mounted.
func DataVolume(major int) string {
	if major >= LayoutMajor {
		return dataDirNew
	}
	return dataDirOld
}

// DataVolumes are the data-volume targets of every layout, for readers of
// compose files written for either.
var DataVolumes = []string{dataDirOld, dataDirNew}

// Repository is the published citus image's repository on Docker Hub, the
// only one whose tags citusgen can place on a PostgreSQL major.
const Repository = "citusdata/citus"

// pgMajors is the PostgreSQL major of the published citusdata/citus tags
// without a -pgNN suffix, by Citus release (from citusdata/docker: the FROM
// line of the Dockerfile each release was published with).
var pgMajors = []struct {
	citusMajor, citusMinor int
	pg                     int
}{
	{7, 1, 10}, {7, 2, 10}, {7, 3, 10}, {7, 4, 10}, {7, 5, 10},
	{8, 0, 11}, {8, 1, 11}, {8, 2, 11}, {8, 3, 11},
	{9, 0, 12}, {9, 1, 12}, {9, 2, 12}, {9, 3, 12}, {9, 4, 12},
	{9, 5, 13}, {10, 0, 13}, {10, 1, 13},
	{10, 2, 14}, {11, 0, 14},
	{11, 1, 15}, {11, 2, 15}, {11, 3, 15}, {12, 0, 15},
	{12, 1, 16},
	{13, 0, 17}, {13, 1, 17}, {13, 2, 17},
	{14, 0, 18}, {14, 1, 18},
}

// pgPatchMajors are the releases published on another major than the last
// release of their minor: 11.1.1 and 11.1.2 came before 11.1's move to 15.
var pgPatchMajors = map[[3]int]int{
	{11, 1, 1}: 14, {11, 1, 2}: 14,
}

var citusTag = regexp.MustCompile(`^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-pg(\d+))?(-alpine)?$`)

// ImagePostgres is the PostgreSQL major a published citusdata/citus tag
// carries: 14.1 and 14 are 18, 14.1-pg17 is 17, 13.2 is 17, 13.2-pg15 is 15,
// 8.1.1 is 11; -alpine variants follow the same majors.
func ImagePostgres(image string) (major int, ok bool) {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil || reference.Domain(ref) != "docker.io" || reference.Path(ref) != Repository {
		return 0, false
	}
	if _, digested := ref.(reference.Digested); digested {
		return 0, false // the digest decides what runs, not the tag
	}
	tagged, isTagged := ref.(reference.Tagged)
	if !isTagged {
		return 0, false // latest
	}
	m := citusTag.FindStringSubmatch(tagged.Tag())
	if m == nil {
		return 0, false
	}
	if m[4] != "" {
		pg, _ := strconv.Atoi(m[4])
		return pg, pg >= 10
	}
	cm, _ := strconv.Atoi(m[1])
	minor := -1
	if m[2] != "" {
		minor, _ = strconv.Atoi(m[2])
	}
	if m[3] != "" {
		patch, _ := strconv.Atoi(m[3])
		if pg, ok := pgPatchMajors[[3]int{cm, minor, patch}]; ok {
			return pg, true
		}
	}
	newest := pgMajors[len(pgMajors)-1]
	pg := 0
	for _, r := range pgMajors {
		if r.citusMajor == cm && (minor < 0 || r.citusMinor == minor) {
			pg = r.pg // the last match: a moving tag's latest release
		}
	}
	if pg == 0 && cm == newest.citusMajor && minor > newest.citusMinor {
		pg = newest.pg
	}
	return pg, pg != 0
}

// What citusgen asks PostgreSQL when one of its statements is held up: the
// lock its backend waits for and the sessions holding it, or what canceled
// it. These are PostgreSQL's own cluster-wide views and shared catalogs
// (pg_locks, pg_stat_activity, pg_db_role_setting, pg_file_settings), the
// same on every Citus release, asked from the maintenance database: while
// a session holds one of Citus's catalogs in the cluster database, every
// new session there waits for it on its first query.

// holderJSON is one session as JSON, b being its pg_stat_activity row:
// enough to find and end it, never its query text (which may hold a
// password).
const holderJSON = `json_build_object('pid', b.pid, 'application_name', b.application_name, 'user', b.usename,
               'client', host(b.client_addr), 'state', b.state, 'query_start', b.query_start, 'xact_start', b.xact_start`

// Waiting says what backend $1 is waiting for: the lock it has requested
// (its type, the database and relation oid when it is a relation, the
// mode), else its wait event, and the sessions pg_blocking_pids names,
// each with the modes it holds on that lockable object.
const Waiting = `SELECT coalesce(w.locktype, ''),
       coalesce((SELECT datname FROM pg_catalog.pg_database WHERE oid = w.database), ''),
       coalesce(w.relation, 0)::bigint,
       coalesce(w.mode, ''),
       coalesce(me.wait_event_type || ': ' || me.wait_event, ''),
       (SELECT coalesce(json_agg(` + holderJSON + `,
               'modes', (SELECT string_agg(DISTINCT l.mode, ', ') FROM pg_catalog.pg_locks l
                          WHERE l.pid = b.pid AND l.granted AND l.locktype = w.locktype
                            AND l.database IS NOT DISTINCT FROM w.database AND l.relation IS NOT DISTINCT FROM w.relation
                            AND l.transactionid IS NOT DISTINCT FROM w.transactionid AND l.classid IS NOT DISTINCT FROM w.classid
                            AND l.objid IS NOT DISTINCT FROM w.objid AND l.objsubid IS NOT DISTINCT FROM w.objsubid)) ORDER BY b.pid), '[]')
          FROM pg_catalog.pg_stat_activity b WHERE b.pid = ANY (pg_catalog.pg_blocking_pids($1)))::text
  FROM pg_catalog.pg_stat_activity me
  LEFT JOIN pg_catalog.pg_locks w ON w.pid = me.pid AND NOT w.granted
 WHERE me.pid = $1
 LIMIT 1`

// TimeoutCause says where the statement_timeout that applies to role $2
// in database $1 is set, most specific first (as PostgreSQL applies
// them): its source as pg_settings names it ("database user", "user",
// "database", "configuration file") and the setting; then the sessions
// that hold ACCESS EXCLUSIVE locks in that database (the only mode that
// holds up catalog reads), with the relation's oid.
const TimeoutCause = `WITH db AS (SELECT oid FROM pg_catalog.pg_database WHERE datname = $1),
     role AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $2),
     set AS (SELECT CASE WHEN s.setdatabase <> 0 AND s.setrole <> 0 THEN 1 WHEN s.setrole <> 0 THEN 2 ELSE 3 END AS rank,
                    CASE WHEN s.setdatabase <> 0 AND s.setrole <> 0 THEN 'database user' WHEN s.setrole <> 0 THEN 'user' ELSE 'database' END AS source,
                    substr(c, length('statement_timeout=') + 1) AS setting
               FROM pg_catalog.pg_db_role_setting s, unnest(s.setconfig) c
              WHERE c LIKE 'statement\_timeout=%'
                AND s.setdatabase IN (0, (SELECT oid FROM db)) AND s.setrole IN (0, (SELECT oid FROM role))
                AND (s.setdatabase, s.setrole) <> (0::oid, 0::oid)
             UNION ALL
             SELECT 4, 'configuration file', setting FROM pg_catalog.pg_file_settings WHERE name = 'statement_timeout' AND applied)
SELECT coalesce((SELECT source FROM set ORDER BY rank LIMIT 1), ''),
       coalesce((SELECT setting FROM set ORDER BY rank LIMIT 1), ''),
       (SELECT coalesce(json_agg(` + holderJSON + `,
               'modes', l.mode, 'relation_oid', l.relation::bigint) ORDER BY b.pid), '[]')
          FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity b ON b.pid = l.pid
         WHERE l.granted AND l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.database = (SELECT oid FROM db))::text`

// RelationNames names relations by oid ($1), in the database asked.
const RelationNames = "SELECT r::bigint, r::regclass::text FROM unnest($1::oid[]) AS r"

// ImageRelease is the Citus release (MAJOR.MINOR) a published
// citusdata/citus tag carries, and its tag without the -pgNN suffix:
// 13.2-pg15 is release 13.2 of tag "13.2". ok is false where ImagePostgres
// cannot place the image, or the tag names a major alone (14).
func ImageRelease(image string) (release string, ok bool) {
	if _, placed := ImagePostgres(image); !placed {
		return "", false
	}
	ref, _ := reference.ParseNormalizedNamed(image)
	m := citusTag.FindStringSubmatch(ref.(reference.Tagged).Tag())
	if m[2] == "" {
		return "", false
	}
	return m[1] + "." + m[2], true
}

// ImageFor is the citusdata/citus tag of release on PostgreSQL major:
// the plain tag where the release's last build is that major, the -pgNN
// variant where Citus builds that release for it, ok false where it does
// not (supportedMajors). The -alpine variants are not considered.
func ImageFor(release string, major int) (string, bool) {
	plain := Repository + ":" + release
	if pg, ok := ImagePostgres(plain); ok && pg == major {
		return plain, true
	}
	var cm int
	if _, err := fmt.Sscanf(release, "%d.", &cm); err != nil {
		return "", false
	}
	for _, m := range supportedMajors[cm] {
		if m == major {
			return fmt.Sprintf("%s-pg%d", plain, major), true
		}
	}
	return "", false
}

// supportedMajors are the PostgreSQL majors each Citus major line is built
// for (Citus's release notes; citusdata/docker publishes a -pgNN tag for
// the older ones).
var supportedMajors = map[int][]int{
	11: {13, 14, 15},
	12: {14, 15, 16},
	13: {15, 16, 17},
	14: {16, 17, 18},
}
