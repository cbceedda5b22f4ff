package citus

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
