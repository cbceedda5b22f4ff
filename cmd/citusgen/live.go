package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/citusgen/citusgen/bootstrap"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/reconcile"
	"github.com/citusgen/citusgen/topology"
	"github.com/citusgen/citusgen/verify"
)

// connFlags say where citusgen reaches the nodes; bootstrap and verify share them.
type connFlags struct {
	Reach   string   `placeholder:"host|network" env:"CITUSGEN_REACH" help:"Reach nodes from the host (published ports) or the compose network (service names); default: the topology's django.reaches."`
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
		return o, usageError{fmt.Sprintf("--reach must be host or network, not %q", f.Reach)}
	}
	if f.Host != "" && !hostRE.MatchString(f.Host) {
		return o, usageError{fmt.Sprintf("--host %q is not a host name or IP address", f.Host)}
	}
	for _, spec := range f.Node {
		service, addr, ok := strings.Cut(spec, "=")
		if !ok {
			return o, usageError{fmt.Sprintf("--node %q: write SERVICE=HOST:PORT", spec)}
		}
		a, err := cluster.ParseAddress(addr)
		if err != nil || !hostRE.MatchString(a.Host) {
			return o, usageError{fmt.Sprintf("--node %s: %q is not HOST:PORT", service, addr)}
		}
		o.Nodes[service] = a
	}
	if _, err := cluster.Endpoints(t, o); err != nil {
		return o, usageError{err.Error()}
	}
	return o, nil
}

// addressFunc says where each node is reached, for scripts that print SQL
// without connecting (no password needed).
func (f connFlags) addressFunc(t *topology.Topology) (generator.AddressFunc, error) {
	o, err := f.addresses(t)
	if err != nil {
		return nil, err
	}
	eps, err := cluster.Endpoints(t, o)
	if err != nil {
		return nil, err
	}
	addr := map[string]cluster.Address{}
	for _, ep := range eps {
		addr[ep.Node.Service] = ep.Addr
	}
	return func(n topology.Node) (string, int) { a := addr[n.Service]; return a.Host, a.Port }, nil
}

// liveSpec loads the spec and where and how to reach its nodes: what every
// command that talks to the live cluster starts with.
func liveSpec(e *env, s specFlag, f connFlags) (*topology.Topology, cluster.Options, error) {
	t, err := s.load(e)
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
		return o, usageError{err.Error()}
	}
	o.Password = pw
	return o, nil
}

type bootstrapCmd struct {
	specFlag
	connFlags
	Wait      time.Duration `default:"60s" env:"CITUSGEN_WAIT" help:"How long to wait for nodes to accept connections, and for a rebalance or drain."`
	DryRun    bool          `help:"Print the SQL bootstrap would run (as a psql script) and connect to nothing."`
	Rebalance bool          `help:"After registering workers, move shards onto them with Citus's background rebalancer and wait for it (progress on stderr)."`
	Prune     bool          `help:"Drain registered workers the topology no longer lists (their shards move to the others), then remove them."`
}

func (c *bootstrapCmd) Run(e *env) error {
	t, err := c.load(e)
	if err != nil {
		return err
	}
	if c.DryRun {
		addr, err := c.addressFunc(t)
		if err != nil {
			return err
		}
		out, err := generator.SQLAt(t, addr)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(out)
		return err
	}
	o, err := c.options(t)
	if err != nil {
		return err
	}
	_, err = bootstrap.Run(context.Background(), t, bootstrap.Options{Cluster: o, Wait: c.Wait, Progress: e.stderr})
	if err != nil {
		return fmt.Errorf("bootstrap failed: %s", cluster.Redact(err.Error(), o.Password, t.User))
	}
	if err := c.reshape(e, t, o); err != nil {
		return errors.New(cluster.Redact(err.Error(), o.Password, t.User))
	}
	return nil
}

// reshape prunes and rebalances after the bootstrap, or says what would be
// pruned: registered workers outside the topology are never left unnamed.
func (c *bootstrapCmd) reshape(e *env, t *topology.Topology, o cluster.Options) error {
	eps, err := cluster.Endpoints(t, o)
	if err != nil {
		return err
	}
	ctx := context.Background()
	conn, err := o.Connect(ctx, t, eps[0], t.ClusterDatabase())
	if err != nil {
		return fmt.Errorf("connecting to the coordinator: %w", err)
	}
	defer conn.Close(context.Background())
	ro := reconcile.Options{Wait: c.Wait, Progress: e.stderr}
	if c.Prune {
		if _, err := reconcile.Prune(ctx, t, conn, ro); err != nil {
			return fmt.Errorf("prune failed: %w", err)
		}
	} else {
		live, err := reconcile.ReadLive(ctx, conn)
		if err != nil {
			return err
		}
		for _, a := range reconcile.Diff(t, live) {
			if strings.Contains(a.Detail, "--prune") {
				fmt.Fprintf(e.stderr, "citusgen: note: %s: %s\n", a.Node, a.Detail)
			}
		}
	}
	if c.Rebalance {
		if _, err := reconcile.Rebalance(ctx, conn, ro); err != nil {
			return fmt.Errorf("rebalance failed: %w", err)
		}
	}
	return nil
}

type planCmd struct {
	specFlag
	connFlags
	JSON    bool          `name:"json" help:"Print the plan as JSON."`
	Timeout time.Duration `default:"30s" env:"CITUSGEN_TIMEOUT" help:"Bound on the whole run."`
}

// Run lists what bootstrap (with --rebalance and --prune) would change;
// read-only. Exit 0 in sync, 1 with changes pending.
func (c *planCmd) Run(e *env) error {
	t, o, err := liveSpec(e, c.specFlag, c.connFlags)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	p, err := reconcile.Compute(ctx, t, o)
	if err != nil {
		return errors.New(cluster.Redact(err.Error(), o.Password, t.User))
	}
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if p.Actions == nil {
			p.Actions = []reconcile.Action{}
		}
		if err := enc.Encode(map[string]any{"in_sync": p.InSync(), "actions": p.Actions}); err != nil {
			return err
		}
	} else if p.InSync() {
		fmt.Fprintln(e.stdout, "in sync: the cluster matches the topology")
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ACTION\tNODE\tDETAIL")
		for _, a := range p.Actions {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Kind, a.Node, oneLine(a.Detail))
		}
		tw.Flush()
		fmt.Fprintf(e.stdout, "%d changes pending; citusgen bootstrap applies them (--rebalance, --prune for those marked so)\n", len(p.Actions))
	}
	if !p.InSync() {
		return checksFailed{}
	}
	return nil
}

type verifyCmd struct {
	specFlag
	connFlags
	Timeout  time.Duration `default:"30s" env:"CITUSGEN_TIMEOUT" help:"Bound on the whole run; a silent port never hangs it."`
	JSON     bool          `name:"json" help:"Print the report as JSON."`
	Smoke    bool          `help:"Also create a distributed table in a scratch schema, write and count rows across shards, and drop it."`
	Failures bool          `help:"Print only the failing checks (the counts still cover all)."`
}

func (c *verifyCmd) Run(e *env) error {
	t, o, err := liveSpec(e, c.specFlag, c.connFlags)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	report, err := verify.Run(ctx, t, verify.Options{Cluster: o, Smoke: c.Smoke})
	if err != nil {
		return usageError{err.Error()}
	}
	shown := report.Checks
	if c.Failures {
		shown = nil
		for _, ch := range report.Checks {
			if ch.Status == verify.Fail {
				shown = append(shown, ch)
			}
		}
	}
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		pass, fail, skip := report.Counts()
		if shown == nil {
			shown = []verify.Check{}
		}
		if err := enc.Encode(map[string]any{
			"ok": report.OK(), "passed": pass, "failed": fail, "skipped": skip,
			"elapsed_seconds": report.Elapsed.Seconds(), "checks": shown,
		}); err != nil {
			return err
		}
	} else {
		writeTable(e, report, shown)
	}
	if !report.OK() {
		return checksFailed{}
	}
	return nil
}

// checksFailed: the report already said what failed; exit 1 quietly.
type checksFailed struct{}

func (checksFailed) Error() string { return "" }

func writeTable(e *env, r *verify.Report, shown []verify.Check) {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tNODE\tSTATUS\tDETAIL")
	for _, c := range shown {
		status := strings.ToUpper(string(c.Status))
		// A row is one line whatever a server said.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Node, status, oneLine(c.Detail))
		if c.Hint != "" && c.Status == verify.Fail {
			fmt.Fprintf(tw, "\t\t\thint: %s\n", oneLine(c.Hint))
		}
	}
	tw.Flush()
	pass, fail, skip := r.Counts()
	fmt.Fprintf(e.stdout, "%d passed, %d failed, %d skipped (%s)\n", pass, fail, skip, r.Elapsed.Round(time.Millisecond))
}

type resetCmd struct {
	specFlag
	connFlags
	Yes  bool          `help:"Really drop and recreate the database on every node."`
	Wait time.Duration `default:"60s" env:"CITUSGEN_WAIT" help:"How long to wait for nodes to accept connections."`
}

func (c *resetCmd) Run(e *env) error {
	t, err := c.load(e)
	if err != nil {
		return err
	}
	if !c.Yes {
		addr, err := c.addressFunc(t)
		if err != nil {
			return err
		}
		e.stdout.Write(generator.ResetSQL(t, addr))
		return usageError{fmt.Sprintf("reset drops database %s on %d nodes and every table in it; nothing was done. Run again with --yes to do it", t.ClusterDatabase(), len(t.Nodes()))}
	}
	o, err := c.options(t)
	if err != nil {
		return err
	}
	if err := bootstrap.Reset(context.Background(), t, bootstrap.Options{Cluster: o, Wait: c.Wait, Progress: e.stderr}); err != nil {
		return fmt.Errorf("reset failed: %s", cluster.Redact(err.Error(), o.Password, t.User))
	}
	return nil
}

// oneLine folds line breaks (and tabs, which would shift the table's
// columns) into spaces.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == '\t' }), " ")
}
