package diagnosis

import (
	"fmt"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/steps"
)

// nodeChecks are each node's own checks, in order.
var nodeChecks = []string{CheckReachable, CheckAuth, CheckDatabase, CheckReadable, CheckPreload, CheckExtension, CheckCredentials}

// citusBlocked says what a person must do before Citus can run on a node
// whose facts were read ("" when nothing): install it, or preload it.
func citusBlocked(n *live.Node) string {
	s := n.Service()
	switch {
	case !n.HasFacts():
		return ""
	case n.CitusAvailable == "" && n.Citus == "":
		return fmt.Sprintf("the Citus extension is not installed on %s: use a citusdata/citus image or install the Citus package for PostgreSQL %s", s, n.ServerVersion)
	case !n.PreloadOK():
		return n.PreloadDetail() + ": " + preloadFix(s)
	}
	return ""
}

func preloadFix(node string) string {
	return fmt.Sprintf("set shared_preload_libraries = 'citus' (citus first) on %s and restart it; the citusdata/citus images do this", node)
}

// node is one node's own findings, from how far the connection got to what
// its catalog holds, and its own changes: the database, the extension, the
// inter-node credentials, or what a person must do first.
func (d *diagnosis) node(n *live.Node, pos int) {
	t := d.t
	s, db := n.Service(), t.ClusterDatabase()
	rows := 0
	add := func(name string, st Status, detail, hint string, by ...*Change) {
		d.add(Finding{Name: name, Node: s, Status: st, Detail: detail, Hint: hint}, by...)
		rows++
	}
	// skipRest skips the checks after the last one added; by names the
	// change that resolves a skipped check.
	skipRest := func(why string, by map[string]*Change) {
		for _, name := range nodeChecks[rows:] {
			add(name, Skip, "skipped: "+why, "", by[name])
		}
	}
	change := func(ch Change) *Change {
		ch.Node, ch.On = s, s
		return d.change(phaseNode, pos, ch)
	}
	var createdDB, manual *Change
	if !n.Connected && n.Failure == cluster.NoDatabase {
		createdDB = change(Change{Kind: CreateDatabase, Detail: "CREATE DATABASE " + db, Steps: []steps.Step{steps.CreateDatabase(t)}})
	}
	if blocked := citusBlocked(n); blocked != "" {
		// The database can be made, the extension cannot until a person
		// has done their part.
		manual = change(Change{Kind: Manual, Needs: ByHand, Detail: blocked, lead: CheckPreload})
		if n.CitusAvailable == "" && n.Citus == "" {
			manual.lead = CheckExtension
		}
		d.blocked[s] = manual
	}
	// ext and creds are what bootstrap does where Citus can run but its
	// extension is not created yet.
	var ext, creds *Change
	newExt := func() {
		if manual != nil {
			return
		}
		ext = change(Change{Kind: CreateExtension, Detail: "CREATE EXTENSION citus in " + db, Steps: []steps.Step{steps.CreateExtension()}})
		creds = d.credentials(n, pos, "store the inter-node credentials in pg_dist_authinfo")
	}
	pending := func() map[string]*Change {
		if manual != nil {
			return map[string]*Change{CheckExtension: manual}
		}
		return map[string]*Change{CheckExtension: ext, CheckCredentials: creds}
	}
	if !n.Connected {
		addr := n.Endpoint.Addr
		switch n.Failure {
		case cluster.AuthFailed:
			add(CheckReachable, Pass, addr.String(), "")
			add(CheckAuth, Fail, n.Detail, n.FailureHint(t))
			skipRest("not authenticated", nil)
		case cluster.NoDatabase:
			add(CheckReachable, Pass, addr.String(), "")
			add(CheckAuth, Pass, "user "+t.User, "")
			add(CheckDatabase, Fail, fmt.Sprintf("database %s does not exist on %s", db, s), "run citusgen bootstrap (it creates the database on every node), or run the script from citusgen render sql", createdDB)
			newExt()
			if n.HasFacts() {
				// What the maintenance database told: whether Citus can run there.
				add(CheckReadable, Pass, "server settings read from the maintenance database", "")
				d.preload(n, add, manual)
				if n.CitusAvailable == "" {
					add(CheckExtension, Fail, "the citus extension is not installed on this server", live.StepHint(t, s, "citus.control"), manual)
				}
			}
			skipRest("no database", pending())
		case cluster.NotPostgres:
			add(CheckReachable, Fail, n.Detail, n.FailureHint(t))
			skipRest("not PostgreSQL", nil)
		case cluster.Silent:
			add(CheckReachable, Fail, n.Detail, n.FailureHint(t))
			skipRest("no answer", nil)
		case cluster.Unreachable, cluster.StartingUp:
			add(CheckReachable, Fail, fmt.Sprintf("%s: %s", addr, n.Detail), n.FailureHint(t))
			skipRest("not reachable", nil)
		case cluster.TooManyClients:
			add(CheckReachable, Fail, fmt.Sprintf("%s %s", addr, n.Detail), n.FailureHint(t))
			skipRest("no free connection", nil)
		default:
			add(CheckReachable, Fail, n.Detail, "")
			skipRest("connection failed", nil)
		}
		return
	}
	// The node was reached: a reading that did not complete says what
	// held it up, not that the node is away.
	add(CheckReachable, Pass, fmt.Sprintf("%s, PostgreSQL %s", n.Endpoint.Addr, n.ServerVersion), "")
	add(CheckAuth, Pass, "user "+t.User, "")
	add(CheckDatabase, Pass, db, "")
	switch {
	case n.QueryErr != "":
		add(CheckReadable, Fail, "reading the node's settings failed: "+n.QueryErr, n.QueryHint)
		skipRest("not read", nil)
		return
	case n.CatalogErr != "":
		add(CheckReadable, Fail, "reading Citus's catalog failed: "+n.CatalogErr, n.QueryHint)
	case n.Citus != "":
		add(CheckReadable, Pass, "server settings and Citus's catalog read", "")
	default:
		add(CheckReadable, Pass, "server settings read", "")
	}
	d.preload(n, add, manual)
	switch {
	case n.Citus != "":
		add(CheckExtension, Pass, "citus "+n.Citus, "")
	case n.CitusAvailable != "":
		newExt()
		hint := "run citusgen bootstrap (CREATE EXTENSION citus)"
		if !n.PreloadOK() {
			hint = "fix shared_preload_libraries first (see shared-preload), then run citusgen bootstrap"
		}
		add(CheckExtension, Fail, fmt.Sprintf("citus %s is available but not created in %s", n.CitusAvailable, db), hint, pending()[CheckExtension])
	default:
		add(CheckExtension, Fail, "the citus extension is not installed on this server", live.StepHint(t, s, "citus.control"), manual)
	}
	switch n.Credentials {
	case live.CredentialsNotNeeded:
		add(CheckCredentials, Pass, "none needed: the topology uses trust authentication", "")
	case live.CredentialsUnknown:
		why := "the citus extension is not created"
		if n.CatalogErr != "" {
			why = "reading Citus's catalog failed: " + n.CatalogErr
		}
		add(CheckCredentials, Skip, "skipped: "+why, "", creds)
	case live.CredentialsOK:
		add(CheckCredentials, Pass, "pg_dist_authinfo holds the topology's password for "+t.User, "")
	default:
		detail := "pg_dist_authinfo holds no password for " + t.User + ": Citus's connections from " + s + " to the other nodes cannot log in"
		if n.Credentials == live.CredentialsStale {
			detail = "pg_dist_authinfo holds another password for " + t.User + " than the topology's (changed since?): Citus's connections from " + s + " fail to log in"
		}
		by := manual
		if by == nil {
			by = d.credentials(n, pos, detail)
		}
		add(CheckCredentials, Fail, detail, hintOf(by, "it stores the password in pg_dist_authinfo on every node"), by)
	}
}

// credentials is the change that stores the inter-node credentials on a
// node, where the topology has a password.
func (d *diagnosis) credentials(n *live.Node, pos int, why string) *Change {
	if !d.t.HasPassword() {
		return nil
	}
	return d.change(phaseNode, pos, Change{Kind: StoreCredentials, Node: n.Service(), On: n.Service(), Detail: why, Steps: []steps.Step{steps.StoreCredentials(d.t)}})
}

// preload is the shared-preload finding, from facts read in the cluster
// database or, before it exists, in the maintenance one.
func (d *diagnosis) preload(n *live.Node, add func(name string, st Status, detail, hint string, by ...*Change), manual *Change) {
	if n.PreloadOK() {
		add(CheckPreload, Pass, "shared_preload_libraries = '"+n.Preload+"'", "")
	} else {
		add(CheckPreload, Fail, n.PreloadDetail(), preloadFix(n.Service()), manual)
	}
}
