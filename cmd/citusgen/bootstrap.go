package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/citusgen/citusgen/bootstrap"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/topology"
)

type bootstrapCmd struct {
	liveFlags
	nodeWait  `embed:"" set:"wait_help=How long to wait for the nodes to accept connections, for another bootstrap's lock, and for each statement, rebalance and drain. 0: try each node once and do not wait for another bootstrap (statements, a rebalance and a drain are then bounded by 60s); negative values are refused."`
	DryRun    bool `help:"Print the SQL bootstrap would run on a new cluster (as a psql script) and connect to nothing."`
	Rebalance bool `help:"Also move shards onto the topology's workers with Citus's background rebalancer (or wait for a rebalance already running), with progress on stderr."`
	Prune     bool `help:"Also drain registered workers the topology no longer lists (their shards move to the others), then remove them."`
}

// Run applies what plan lists.
func (c *bootstrapCmd) Run(e *env) error {
	if err := c.check(e); err != nil {
		return err
	}
	use := forCluster
	if c.DryRun {
		use = forFiles // prints SQL, connects to nothing
	}
	t, err := c.spec(e, use)
	if err != nil {
		return err
	}
	if c.DryRun {
		addr, err := c.addressFunc(t)
		if err != nil {
			return err
		}
		return e.print(generator.SQLAt(t, addr))
	}
	o, err := c.options(t)
	if err != nil {
		return err
	}
	bo := c.bootstrapOptions(e, o)
	bo.Prune, bo.Rebalance = c.Prune, c.Rebalance
	res, err := bootstrap.Run(e.ctx, t, bo)
	if err != nil && e.ctx.Err() != nil {
		return redacted{o.Redact(t, err.Error()), err} // says what it stopped and what it left
	}
	if err != nil {
		return redacted{"bootstrap failed: " + o.Redact(t, err.Error()), err}
	}
	if !res.Complete() {
		return res.Left.Left()
	}
	return nil
}

type resetCmd struct {
	liveFlags
	Yes      bool `help:"Really drop and recreate the database on every node."`
	nodeWait `embed:"" set:"wait_help=How long to wait for the nodes to accept connections, and for each statement. 0: try each node once (statements are then bounded by 60s); negative values are refused."`
}

func (c *resetCmd) Run(e *env) error {
	if err := c.check(e); err != nil {
		return err
	}
	t, err := c.spec(e, forCluster)
	if err != nil {
		return err
	}
	if !c.Yes {
		addr, err := c.addressFunc(t)
		if err != nil {
			return err
		}
		e.stdout.Write(generator.ResetSQL(t, addr))
		return badInputf("reset drops database %s on %d nodes and every table in it; nothing was done. Run again with --yes to do it", t.ClusterDatabase(), len(t.Nodes()))
	}
	o, err := c.options(t)
	if err != nil {
		return err
	}
	if err := bootstrap.Reset(e.ctx, t, c.bootstrapOptions(e, o)); err != nil && e.ctx.Err() != nil {
		return fmt.Errorf("reset stopped; the nodes above that say done were reset, the statement it was running is canceled: run citusgen reset --yes again to reset every node, then citusgen bootstrap")
	} else if err != nil {
		return redacted{"reset failed: " + o.Redact(t, err.Error()), err}
	}
	return nil
}

// nodeWait is --wait of the commands that work on the nodes (bootstrap,
// reset, password), each with its own help (wait_help).
type nodeWait struct {
	Wait time.Duration `default:"60s" env:"CITUSGEN_WAIT" help:"${wait_help}"`
}

func (w nodeWait) check(e *env) error {
	return checkWait(e, w.Wait, "60s, the default", "try each node once without waiting")
}

func (w nodeWait) bootstrapOptions(e *env, o cluster.Options) bootstrap.Options {
	return bootstrap.Options{Cluster: o, Wait: w.Wait, NoWait: w.Wait == 0, Progress: e.stderr}
}

// connFlags say where citusgen reaches the nodes; bootstrap and verify share them.
type connFlags struct {
	Reach   string   `placeholder:"host|network" predictor:"reach" env:"CITUSGEN_REACH" help:"Reach nodes from the host (published ports) or the compose network (service names); default: the topology's django.reaches."`
	Host    string   `env:"CITUSGEN_HOST" help:"Connect to every node on this host (ports as --reach gives them)."`
	Node    []string `env:"CITUSGEN_NODES" sep:"," placeholder:"SERVICE=HOST:PORT" help:"Connect to one node at this address; repeat or comma-separate."`
	SSLMode string   `default:"prefer" env:"CITUSGEN_SSLMODE" enum:"disable,allow,prefer,require,verify-ca,verify-full" help:"libpq sslmode for citusgen's connections."`
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

// addresses validates the address flags; it needs no password.
func (f connFlags) addresses(t *topology.Topology) (cluster.Options, error) {
	o := cluster.Options{Reach: topology.Reach(f.Reach), Host: f.Host, SSLMode: f.SSLMode, Nodes: map[string]cluster.Address{}}
	switch o.Reach {
	case "", topology.ReachHost, topology.ReachNetwork:
	default:
		return o, badInputf("--reach must be host or network, not %q", f.Reach)
	}
	if f.Host != "" && !hostRE.MatchString(f.Host) {
		return o, badInputf("--host %s is %s: write --host HOST (or CITUSGEN_HOST=HOST), a host name or IP address alone, such as db.internal or 10.1.2.3; citusgen takes the user, password and database from the topology", showAddress(f.Host), notAddress(f.Host, "a host name or IP address"))
	}
	nodes := t.Nodes()
	example := nodes[len(nodes)-1].Service
	for _, spec := range f.Node {
		service, addr, ok := strings.Cut(spec, "=")
		if !ok || cluster.LooksLikeConninfo(spec) {
			return o, badInputf("--node %s is %s: write --node SERVICE=HOST:PORT (or CITUSGEN_NODES=SERVICE=HOST:PORT,...), such as %s=10.1.2.3:5432; citusgen takes the user, password and database from the topology", showAddress(spec), notAddress(spec, "SERVICE=HOST:PORT"), example)
		}
		a, err := cluster.ParseAddress(addr)
		if err != nil || !hostRE.MatchString(a.Host) {
			return o, badInputf("--node %s: %s is %s: write --node %s=HOST:PORT (or CITUSGEN_NODES=%s=HOST:PORT,...), such as %s=10.1.2.3:5432", service, showAddress(addr), notAddress(addr, "HOST:PORT"), service, service, service)
		}
		o.Nodes[service] = a
	}
	if _, err := cluster.Endpoints(t, o); err != nil {
		return o, badInputf("%s", cluster.RedactConninfo(err.Error()))
	}
	return o, nil
}

// showAddress quotes a value given for an address, its password masked
// (a connection string passed where HOST belongs).
func showAddress(s string) string { return strconv.Quote(cluster.RedactConninfo(s)) }

// notAddress says what a refused address value is instead of want.
func notAddress(s, want string) string {
	if cluster.LooksLikeConninfo(s) {
		return "a connection string (its password not shown), not " + want
	}
	return "not " + want
}

// addressFunc says where each node is reached, for scripts that print SQL
// without connecting (no password needed).
func (f connFlags) addressFunc(t *topology.Topology) (generator.AddressFunc, error) {
	o, err := f.addresses(t)
	if err != nil {
		return nil, err
	}
	return cluster.Addresses(t, o)
}

// liveFlags are the flags of every command that reaches the live cluster:
// its spec and where its nodes are.
type liveFlags struct {
	specFlag
	connFlags
}

// live loads the spec and where and how to reach its nodes: what every
// command that talks to the live cluster starts with.
func (f liveFlags) live(e *env) (*topology.Topology, cluster.Options, error) {
	t, err := f.spec(e, forCluster)
	if err != nil {
		return nil, cluster.Options{}, err
	}
	o, err := f.options(t)
	return t, o, err
}

// options adds the password to the addresses.
func (f connFlags) options(t *topology.Topology) (cluster.Options, error) {
	o, err := f.addresses(t)
	if err != nil {
		return o, err
	}
	pw, err := t.ResolvePassword(nil)
	if err != nil {
		return o, badInput{err}
	}
	o.Password = pw
	return o, nil
}
