package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/quote"
)

// Holder is a session that holds what another waits for, as
// pg_stat_activity shows it.
type Holder struct {
	PID        int32      `json:"pid"`
	App        string     `json:"application_name"`
	User       string     `json:"user"`
	Client     string     `json:"client"`
	State      string     `json:"state"`
	QueryStart *time.Time `json:"query_start"`
	XactStart  *time.Time `json:"xact_start"`
	// Modes are the lock modes it holds; RelationOID and Relation, when
	// the lock is found by relation rather than by the waiter's request.
	Modes       string `json:"modes"`
	RelationOID uint32 `json:"relation_oid"`
	Relation    string `json:"-"`
}

func (h Holder) String() string {
	var parts []string
	if h.Modes != "" {
		parts = append(parts, h.Modes)
	}
	if h.App != "" {
		parts = append(parts, "application_name "+quote.SQLLiteral(h.App))
	}
	if h.User != "" {
		parts = append(parts, "user "+h.User)
	}
	if h.Client != "" {
		parts = append(parts, "from "+h.Client)
	}
	if h.State != "" {
		parts = append(parts, "state "+h.State)
	}
	if h.XactStart != nil {
		parts = append(parts, "transaction started "+ago(*h.XactStart))
	}
	if h.QueryStart != nil {
		parts = append(parts, "last query started "+ago(*h.QueryStart))
	}
	return fmt.Sprintf("pid %d (%s)", h.PID, strings.Join(parts, ", "))
}

func ago(t time.Time) string {
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format("15:04:05 UTC"), time.Since(t).Round(time.Second))
}

func holders(list []Holder) string {
	var s []string
	for _, h := range list {
		s = append(s, h.String())
	}
	return strings.Join(s, "; ")
}

// terminateHint says how to get rid of the sessions holding a lock.
func terminateHint(node string, list []Holder) string {
	var pids []string
	for _, h := range list {
		pids = append(pids, fmt.Sprintf("SELECT pg_terminate_backend(%d)", h.PID))
	}
	return fmt.Sprintf("a session keeps its locks until its transaction ends: let it finish (commit or roll back), or end it on %s (%s)", node, strings.Join(pids, "; "))
}

// Stuck is a statement that had not finished when its bound ran out, with
// what the server said its backend waited for just before citusgen
// canceled it.
type Stuck struct {
	Waited time.Duration
	// Lock is what it waited for ("AccessShareLock on pg_dist_node"); ""
	// when it waited for no lock, and then Event is its wait event.
	Lock, Event string
	Holders     []Holder
	// Unasked says why the server could not be asked.
	Unasked string
	Err     error
}

func (s *Stuck) Error() string {
	waited := s.Waited.Round(100 * time.Millisecond)
	switch {
	case s.Unasked != "":
		return fmt.Sprintf("did not finish within %s (what it waited for could not be asked: %s)", waited, s.Unasked)
	case s.Lock != "" && len(s.Holders) > 0:
		return fmt.Sprintf("waited %s for %s, held by %s", waited, s.Lock, holders(s.Holders))
	case s.Lock != "":
		return fmt.Sprintf("waited %s for %s", waited, s.Lock)
	case s.Event != "":
		return fmt.Sprintf("did not finish within %s (still running, wait event %s)", waited, s.Event)
	}
	return fmt.Sprintf("did not finish within %s (still running)", waited)
}

func (s *Stuck) Unwrap() error { return s.Err }

// Hint says what to do on node.
func (s *Stuck) Hint(node string) string {
	if len(s.Holders) > 0 {
		return terminateHint(node, s.Holders) + "; then run citusgen again"
	}
	return fmt.Sprintf("something on %s held it up: pg_stat_activity and pg_locks there show what; then run citusgen again (bootstrap: a longer --wait; plan, verify: a longer --timeout)", node)
}

// Watch runs fn, which sends statements over conn, and bounds it: when fn
// has not returned after bound (or, with bound 0, half the time left before
// ctx's deadline), it asks the server over a connection of its own what
// conn's backend is waiting for (a *Stuck), and then cancels fn's context.
// A statement_timeout that cancels a statement comes back as a *TimedOut
// (explain).
func Watch(ctx context.Context, conn *pgx.Conn, bound time.Duration, fn func(context.Context) error) error {
	if bound <= 0 {
		deadline, ok := ctx.Deadline()
		if !ok {
			return explain(ctx, conn, fn(ctx))
		}
		bound = time.Until(deadline) / 2
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg, pid := conn.Config(), conn.PgConn().PID()
	var stuck *Stuck
	asked := make(chan struct{})
	timer := time.AfterFunc(bound, func() {
		defer close(asked)
		stuck = ask(ctx, cfg, pid)
		stuck.Waited = bound
		cancel()
	})
	err := fn(fctx)
	if !timer.Stop() {
		<-asked
		if err != nil { // else it finished as the bound ran out
			stuck.Err = err
			err = stuck
		}
	}
	return explain(ctx, conn, err)
}

// diagnosisConfig is cfg for a short connection of citusgen's own to
// database, which a statement_timeout of the role must not cut short, nor
// a lock hold up for long.
func diagnosisConfig(cfg *pgx.ConnConfig, database string) *pgx.ConnConfig {
	d := cfg.Copy()
	d.Database = database
	d.RuntimeParams["application_name"] = "citusgen"
	d.RuntimeParams["statement_timeout"] = "5s"
	d.RuntimeParams["lock_timeout"] = "500ms"
	d.ConnectTimeout = 5 * time.Second
	d.OnNotice = nil
	return d
}

// MaintenanceDatabases are the databases citusgen uses where the cluster
// database is not the place (it does not exist yet, or a lock holds it
// up), in order: postgres, or template1 where a setup removed postgres (as
// CommCare HQ's old images did).
var MaintenanceDatabases = []string{"postgres", "template1"}

// maintenance connects to the maintenance database for the cluster-wide
// views: in the cluster database a lock on Citus's catalog holds up every
// new session.
func maintenance(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	return firstMaintenance(func(db string) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, diagnosisConfig(cfg, db)) })
}

// relationName names a relation of the cluster database by oid, or says
// why it cannot: the lock that holds citusgen up can hold up the lookup.
func relationName(ctx context.Context, cfg *pgx.ConnConfig, oids ...uint32) map[uint32]string {
	names := map[uint32]string{}
	why := "%s (it could not be named)"
	conn, err := pgx.ConnectConfig(ctx, diagnosisConfig(cfg, cfg.Database))
	if err == nil {
		defer conn.Close(context.Background())
		var oid int64
		var name string
		rows, _ := conn.Query(ctx, citus.RelationNames, oids)
		_, qerr := pgx.ForEachRow(rows, []any{&oid, &name}, func() error {
			names[uint32(oid)] = name
			return nil
		})
		var pgErr *pgconn.PgError
		if errors.As(qerr, &pgErr) && pgErr.Code == pgerrcode.LockNotAvailable {
			// Citus reads its catalog as a session starts: a lock on it
			// holds up every new session, so it cannot be named.
			why = "%s (one of Citus's catalogs: every new session there waits for it too, so it cannot be named)"
		}
	}
	for _, oid := range oids {
		if names[oid] == "" {
			names[oid] = fmt.Sprintf(why, fmt.Sprintf("relation %d of database %s", oid, cfg.Database))
		}
	}
	return names
}

// ask asks the server what backend pid waits for.
func ask(ctx context.Context, cfg *pgx.ConnConfig, pid uint32) *Stuck {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 8*time.Second)
	defer cancel()
	s := &Stuck{}
	conn, err := maintenance(actx, cfg)
	if err != nil {
		_, s.Unasked = Classify(err)
		return s
	}
	defer conn.Close(context.Background())
	var locktype, database, mode, list string
	var relation int64
	if err := conn.QueryRow(actx, citus.Waiting, int32(pid)).Scan(&locktype, &database, &relation, &mode, &s.Event, &list); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			s.Unasked = "its session had ended"
		} else {
			s.Unasked = OneLine(err.Error())
		}
		return s
	}
	switch {
	case relation != 0 && database == cfg.Database:
		s.Lock = mode + " on " + relationName(actx, cfg, uint32(relation))[uint32(relation)]
	case relation != 0:
		s.Lock = fmt.Sprintf("%s on relation %d of database %s", mode, relation, database)
	case locktype == "advisory":
		s.Lock = mode + " on an advisory lock"
	case locktype == "transactionid":
		s.Lock = "a row lock (" + mode + " on another transaction's id: that transaction changes the rows it wants)"
	case locktype != "":
		s.Lock = mode + " on a " + locktype + " lock"
	}
	if err := json.Unmarshal([]byte(list), &s.Holders); err != nil {
		s.Unasked = "reading the sessions: " + err.Error()
	}
	return s
}

// TimedOut is a statement the server canceled because it ran longer than
// statement_timeout, with where that timeout was set and the sessions whose
// locks held citusgen's reads up.
type TimedOut struct {
	Setting, Source string
	User, Database  string
	Holders         []Holder
	Err             error
}

func (t *TimedOut) Error() string {
	msg := "canceled by statement_timeout"
	if t.Setting != "" {
		where, _ := t.where()
		msg += fmt.Sprintf(" = %s, %s", t.Setting, where)
	}
	var held []string
	for _, h := range t.Holders {
		who := h
		who.Modes = ""
		held = append(held, fmt.Sprintf("%s held %s on %s", who, h.Modes, h.Relation))
	}
	if len(held) > 0 {
		msg += ", while " + strings.Join(held, "; ")
	}
	return msg
}

func (t *TimedOut) Unwrap() error { return t.Err }

// where says where statement_timeout was set, from pg_settings.source,
// and the statement that removes it there.
func (t *TimedOut) where() (where, reset string) {
	role, db := quote.SQLIdent(t.User), quote.SQLIdent(t.Database)
	switch t.Source {
	case "user":
		return "set for role " + t.User + " (ALTER ROLE ... SET statement_timeout)", "ALTER ROLE " + role + " RESET statement_timeout"
	case "database":
		return "set for database " + t.Database + " (ALTER DATABASE ... SET statement_timeout)", "ALTER DATABASE " + db + " RESET statement_timeout"
	case "database user":
		return fmt.Sprintf("set for role %s in database %s (ALTER ROLE ... IN DATABASE ... SET statement_timeout)", t.User, t.Database),
			fmt.Sprintf("ALTER ROLE %s IN DATABASE %s RESET statement_timeout", role, db)
	case "configuration file":
		return "set in the server's configuration (postgresql.conf or ALTER SYSTEM)", "ALTER SYSTEM RESET statement_timeout; SELECT pg_reload_conf()"
	}
	return "set by the connection (PGOPTIONS?)", "SHOW statement_timeout says the value; pg_db_role_setting where it is set"
}

// Hint says what to do on node.
func (t *TimedOut) Hint(node string) string {
	_, reset := t.where()
	hint := fmt.Sprintf("citusgen's statements are short unless something holds them up, and Citus's own connections run as the same user: raise the timeout or remove it on %s (%s)", node, reset)
	if len(t.Holders) > 0 {
		hint = terminateHint(node, t.Holders) + "; " + hint
	}
	return hint
}

// explain turns a statement_timeout cancellation of a statement on conn
// into a *TimedOut, which says where the timeout is set (from the shared
// catalogs: the session itself may not get to run a query) and which
// sessions hold the locks that slow reads down; any other error is
// returned as it is.
func explain(ctx context.Context, conn *pgx.Conn, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.QueryCanceled || !strings.Contains(pgErr.Message, "statement timeout") {
		return err
	}
	cfg := conn.Config()
	t := &TimedOut{User: cfg.User, Database: cfg.Database, Err: err}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 8*time.Second)
	defer cancel()
	mc, merr := maintenance(ectx, cfg)
	if merr != nil {
		return t
	}
	defer mc.Close(context.Background())
	var list string
	if mc.QueryRow(ectx, citus.TimeoutCause, cfg.Database, cfg.User).Scan(&t.Source, &t.Setting, &list) != nil {
		return t
	}
	_ = json.Unmarshal([]byte(list), &t.Holders)
	var oids []uint32
	for _, h := range t.Holders {
		oids = append(oids, h.RelationOID)
	}
	if len(oids) > 0 {
		names := relationName(ectx, cfg, oids...)
		for i := range t.Holders {
			t.Holders[i].Relation = names[t.Holders[i].RelationOID]
		}
	}
	return t
}

// FullHint says what to do about a node that refuses sessions because
// its max_connections are used up (SQLSTATE 53300).
func FullHint(node string) string {
	return fmt.Sprintf("%s refuses new sessions while its max_connections are used up: close idle sessions there (pg_stat_activity lists them) or raise max_connections and restart it; citusgen and Citus's own connections between nodes each need one", node)
}

// Hinted is an error that knows what to do about it on a node.
type Hinted interface {
	error
	Hint(node string) string
}

// Lost reports whether err means the connection ended under a statement:
// the server stopped, crashed or restarted, or ended the session.
func Lost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgerrcode.AdminShutdown, pgerrcode.CrashShutdown, pgerrcode.CannotConnectNow:
			return true
		}
		return false
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		err != nil && strings.Contains(err.Error(), "conn closed")
}
