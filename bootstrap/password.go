package bootstrap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/topology"
)

// Password is a password a node may have, and where it came from (what
// messages name instead of it: "$CITUSGEN_OLD_PASSWORD", ".env").
type Password struct {
	Source, Value string
}

// PasswordChange is what ChangePassword does: New becomes the password of
// the topology's user on every node; Old are the passwords the nodes may
// still have.
type PasswordChange struct {
	New Password
	Old []Password
	// NoOld says where to give the old password, for the hint of a node
	// that rejects every password tried.
	NoOld string
}

// PasswordResult is what ChangePassword found and did, per node.
type PasswordResult struct {
	// Changed are the nodes that had an old password and have the new
	// one now; Already those that had the new one already.
	Changed, Already []string
	// Credentials are the nodes whose pg_dist_authinfo holds the new
	// password; NoCitus those without the cluster database or the
	// extension yet, whose credentials bootstrap stores later.
	Credentials, NoCitus []string
}

// Done reports whether every node of the topology has the new password.
func (r *PasswordResult) Done(t *topology.Topology) bool {
	return len(r.Changed)+len(r.Already) == len(t.Nodes())
}

// ChangePassword makes c.New the password of the topology's user on every
// node, and the credentials in each node's pg_dist_authinfo, with which
// Citus connects nodes to each other. Each node is tried with every old
// password and the new one, so a run stopped half-way (some nodes changed,
// some not) is finished by running it again; each node says which password
// it had. A node that cannot be changed (down, or rejecting every
// password) is named, and the others are still changed. No password is in
// any message: nodes are set by the SCRAM secret of the password (see
// steps.PasswordStatement), with statement logging off for the session.
func ChangePassword(ctx context.Context, t *topology.Topology, o Options, c PasswordChange) (*PasswordResult, error) {
	eps, err := cluster.Endpoints(t, o.Cluster)
	if err != nil {
		return nil, err
	}
	o.Cluster.Password = c.New.Value
	r := &runner{t: t, o: o, auth: citus.Authinfo(c.New.Value), eps: map[string]cluster.Endpoint{}}
	p := &passwordRun{runner: r, change: c, res: &PasswordResult{}}
	// Old ones first: a first run finds them, and a password that both
	// logs in and is the new one (trust authentication) is set anyway.
	for _, old := range c.Old {
		if old.Value != "" && old.Value != c.New.Value && !slices.ContainsFunc(p.try, func(c Password) bool { return c.Value == old.Value }) {
			p.try = append(p.try, old)
		}
	}
	p.try = append(p.try, c.New)
	var errs []error
	for _, ep := range eps {
		if ctx.Err() != nil {
			break
		}
		r.stage = "changing the password of " + ep.Node.Service
		if err := p.node(ctx, ep); err != nil {
			errs = append(errs, err)
		}
	}
	if ctx.Err() != nil {
		return p.res, p.redacted(fmt.Errorf("stopped while %s; %s", r.stage, p.sofar()))
	}
	if err := errors.Join(errs...); err != nil {
		return p.res, p.redacted(err)
	}
	return p.res, nil
}

type passwordRun struct {
	*runner
	change PasswordChange
	try    []Password // old ones first, the new one last
	res    *PasswordResult
}

// redact hides every password tried from s.
func (p *passwordRun) redact(s string) string {
	for _, c := range p.try {
		s = cluster.Redact(s, c.Value, p.t.User)
	}
	return s
}

// redacted is err with every password hidden from its message.
func (p *passwordRun) redacted(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(p.redact(err.Error()))
}

func (p *passwordRun) say(format string, args ...any) {
	p.printf("%s", p.redact(fmt.Sprintf(format, args...)))
}

// sofar says which nodes have the new password, for a run that stopped.
func (p *passwordRun) sofar() string {
	done := append(append([]string(nil), p.res.Changed...), p.res.Already...)
	if len(done) == 0 {
		return "no node has the new password yet: run citusgen password again to change them"
	}
	have := "have"
	if len(done) == 1 {
		have = "has"
	}
	return fmt.Sprintf("%s %s the new password: run citusgen password again to finish (it tries the old and the new password on every node)", list(done), have)
}

// node changes one node's password where it is an old one, and stores the
// new one as its credentials.
func (p *passwordRun) node(ctx context.Context, ep cluster.Endpoint) error {
	name := ep.Node.Service
	conn, found, db, err := p.connect(ctx, ep)
	if err != nil {
		return err
	}
	defer func() { conn.Close(context.Background()) }()
	if found.Value != p.change.New.Value {
		p.say("%s at %s: has the old password (%s); setting the new one", name, ep.Addr, found.Source)
		start := time.Now()
		if err := p.alter(ctx, conn, ep); err != nil {
			return err
		}
		conn.Close(context.Background())
		// The new password must log in before anything says it is set.
		conn, err = p.o.Cluster.Connect(ctx, p.t, ep, db)
		if err != nil {
			kind, detail := cluster.Classify(err)
			e := &Error{Node: name, Action: "log in with the new password", Detail: p.redact(detail)}
			if kind == cluster.AuthFailed {
				e.Hint = fmt.Sprintf("the new password was set on %s but is refused: check its pg_hba.conf (the method for citusgen's address must take a password: scram-sha-256, md5 or password)", name)
			}
			return e
		}
		p.say("%s: set the new password (%s); it logs in", name, time.Since(start).Round(time.Millisecond))
		p.res.Changed = append(p.res.Changed, name)
	} else {
		p.say("%s at %s: has the new password (%s) already", name, ep.Addr, found.Source)
		p.res.Already = append(p.res.Already, name)
	}
	return p.credentials(ctx, conn, ep, db)
}

// connect logs in to ep with each password in turn (cluster database,
// else the maintenance one), waiting up to --wait for a node that is not
// up yet; found is the password that logged in.
func (p *passwordRun) connect(ctx context.Context, ep cluster.Endpoint) (conn *pgx.Conn, found Password, db string, err error) {
	name := ep.Node.Service
	wait := p.wait()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	start, lastReport := time.Now(), time.Time{}
	for {
		var rejected []string
		var kind cluster.Failure
		var detail string
		for _, c := range p.try {
			o := p.o.Cluster
			o.Password = c.Value
			conn, err = o.Connect(wctx, p.t, ep, p.t.ClusterDatabase())
			if k, _ := cluster.Classify(err); k == cluster.NoDatabase {
				conn, err = o.ConnectMaintenance(wctx, p.t, ep)
			}
			if err == nil {
				return conn, c, conn.Config().Database, nil
			}
			kind, detail = cluster.Diagnose(ep.Addr, err)
			if kind != cluster.AuthFailed {
				break
			}
			rejected = append(rejected, c.Source)
		}
		if len(rejected) == len(p.try) {
			hint := fmt.Sprintf("give the password %s has now", name)
			if len(p.try) == 1 {
				hint = "no old password was given: " + p.change.NoOld
			} else if p.change.NoOld != "" {
				hint += ": " + p.change.NoOld
			}
			return nil, Password{}, "", &Error{Node: name, Action: "log in", Detail: p.redact(fmt.Sprintf("user %s is refused with every password tried: %s (%s)", p.t.User, tried(rejected), detail)), Hint: hint}
		}
		switch kind {
		case cluster.Unreachable, cluster.StartingUp, cluster.TooManyClients, cluster.Silent:
		default:
			return nil, Password{}, "", &Error{Node: name, Action: "connect", Detail: p.redact(detail)}
		}
		if p.o.NoWait || wctx.Err() != nil {
			// The hint bootstrap and verify give for the same failure.
			hint := (&live.Node{Endpoint: ep, Failure: kind}).FailureHint(p.t) + "; then run citusgen password again"
			return nil, Password{}, "", &Error{Node: name, Action: "connect", Detail: fmt.Sprintf("no connection to %s within %s (last error: %s)", ep.Addr, wait, p.redact(detail)), Hint: hint}
		}
		if time.Since(lastReport) >= 5*time.Second {
			p.say("%s at %s: waiting (%s; %s so far)", name, ep.Addr, detail, time.Since(start).Round(time.Second))
			lastReport = time.Now()
		}
		select {
		case <-wctx.Done():
		case <-time.After(cmp.Or(p.o.PollInterval, 250*time.Millisecond)):
		}
	}
}

// tried names the passwords a node refused: "the old one ($X) and the new
// one ($Y)", by where each came from.
func tried(sources []string) string {
	out := append([]string(nil), sources...)
	out[len(out)-1] += " (the new one)"
	return list(out)
}

// list joins names with commas and a last "and".
func list(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// alter sets the new password on the node it is connected to, in one
// transaction: statement logging off (the statement holds the SCRAM
// secret, or for a non-ASCII password the password itself), and Citus's
// propagation of ALTER ROLE off, because citusgen sets every node itself:
// propagated from the coordinator it would log in to nodes with credentials
// a half-done run has made stale, and fail; on a worker Citus refuses it.
func (p *passwordRun) alter(ctx context.Context, conn *pgx.Conn, ep cluster.Endpoint) error {
	const action = "set the new password"
	var superuser bool
	var iterations int
	err := cluster.Watch(ctx, conn, p.wait(), func(ctx context.Context) error {
		return conn.QueryRow(ctx, "SELECT pg_catalog.current_setting('is_superuser') = 'on', coalesce(pg_catalog.current_setting('scram_iterations', true), '0')::int").Scan(&superuser, &iterations)
	})
	if err != nil {
		return p.stepErr(ep, action, err)
	}
	stmt, _, err := steps.PasswordStatement(p.t.User, p.change.New.Value, iterations)
	if err != nil {
		return err
	}
	pre := []string{steps.PasswordEncryption, steps.NoRolePropagation}
	if superuser {
		// Settings only a superuser may change; the cluster's user is one
		// on the citus images (it created the extension).
		pre = append(pre, steps.QuietStatements...)
	}
	err = cluster.Watch(ctx, conn, p.wait(), func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for _, s := range pre {
				if _, err := tx.Exec(ctx, s); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, stmt)
			return err
		})
	})
	if err != nil {
		return p.stepErr(ep, action, err)
	}
	return nil
}

func (p *passwordRun) stepErr(ep cluster.Endpoint, action string, err error) error {
	return p.own(p.stepError(ep, action, err))
}

// own makes a bootstrap error one of citusgen password: no password tried
// in it, and its own command to run again.
func (p *passwordRun) own(err error) error {
	var e *Error
	if errors.As(err, &e) {
		e.Detail, e.Hint = p.redact(e.Detail), p.redact(strings.ReplaceAll(e.Hint, "citusgen bootstrap again", "citusgen password again"))
		return e
	}
	return p.redacted(err)
}

// credentials stores the new password in the node's pg_dist_authinfo,
// where the cluster database and the extension exist (bootstrap's own
// step, so it runs as bootstrap runs it).
func (p *passwordRun) credentials(ctx context.Context, conn *pgx.Conn, ep cluster.Endpoint, db string) error {
	name := ep.Node.Service
	if db != p.t.ClusterDatabase() {
		p.say("%s: no database %s yet: citusgen bootstrap (or the citus_setup service) creates it and stores the credentials", name, db)
		p.res.NoCitus = append(p.res.NoCitus, name)
		return nil
	}
	var has bool
	if err := cluster.Watch(ctx, conn, p.wait(), func(ctx context.Context) error {
		return conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus')").Scan(&has)
	}); err != nil {
		return p.stepErr(ep, "look for the citus extension", err)
	}
	if !has {
		p.say("%s: no citus extension in %s yet: citusgen bootstrap (or the citus_setup service) creates it and stores the credentials", name, db)
		p.res.NoCitus = append(p.res.NoCitus, name)
		return nil
	}
	if _, err := p.runStep(ctx, ep, steps.StoreCredentials(p.t), conn); err != nil {
		return p.own(err)
	}
	p.res.Credentials = append(p.res.Credentials, name)
	return nil
}
