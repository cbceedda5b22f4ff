package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/citusgen/citusgen/bootstrap"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/livediff"
	"github.com/citusgen/citusgen/topology"
	"github.com/citusgen/citusgen/verify"
)

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
	DryRun    bool          `help:"Print the SQL bootstrap would run on a new cluster (as a psql script) and connect to nothing."`
	Rebalance bool          `help:"Also move shards onto the topology's workers with Citus's background rebalancer (or wait for a rebalance already running), with progress on stderr."`
	Prune     bool          `help:"Also drain registered workers the topology no longer lists (their shards move to the others), then remove them."`
}

// Run applies what plan lists. Exit 0 when the cluster then matches the
// topology, 1 when something is left (naming the flag or the manual step
// it needs) or a step failed.
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
	res, err := bootstrap.Run(context.Background(), t, bootstrap.Options{Cluster: o, Wait: c.Wait, Progress: e.stderr, Prune: c.Prune, Rebalance: c.Rebalance})
	if err != nil {
		return fmt.Errorf("bootstrap failed: %s", o.Redact(t, err.Error()))
	}
	if !res.Complete() {
		return bootstrap.PendingError(res.Pending)
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
// read-only. Exit 0 in sync, 1 with changes pending, 3 when part of the
// cluster could not be read.
func (c *planCmd) Run(e *env) error {
	t, o, err := liveSpec(e, c.specFlag, c.connFlags)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	cl, err := live.Read(ctx, t, live.Options{Cluster: o, Reshape: true})
	if err != nil {
		return usageError{err.Error()}
	}
	changes := livediff.Diff(cl)
	unread := cl.Unread()
	// Unknown balance is incomplete only when nothing else explains it.
	if p := cl.ReshapeProblem(); p != nil {
		if len(changes) == 0 {
			unread = append(unread, *p)
		} else {
			fmt.Fprintf(e.stderr, "citusgen: note: %s\n", oneLine(o.Redact(t, p.Detail)))
		}
	}
	redact := func(s string) string { return o.Redact(t, s) }
	if c.JSON {
		type problem struct {
			Node   string `json:"node"`
			Detail string `json:"detail"`
			Hint   string `json:"hint,omitempty"`
		}
		var probs []problem
		for _, p := range unread {
			probs = append(probs, problem{p.Node, redact(p.Detail), redact(p.Hint)})
		}
		if changes == nil {
			changes = []livediff.Change{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"in_sync": len(changes) == 0 && len(unread) == 0, "complete": len(unread) == 0, "unread": probs, "changes": changes}); err != nil {
			return err
		}
	} else {
		if len(changes) > 0 {
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ACTION\tNODE\tDETAIL")
			for _, a := range changes {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Kind, a.Node, oneLine(redact(a.Detail)))
			}
			tw.Flush()
		}
		switch {
		case len(unread) > 0:
		case len(changes) == 0:
			fmt.Fprintln(e.stdout, "in sync: the cluster matches the topology")
		default:
			fmt.Fprintln(e.stdout, pendingLine(changes))
		}
	}
	if len(unread) > 0 {
		return couldNotRead{problems: unread, redact: redact, what: "plan is incomplete"}
	}
	if len(changes) > 0 {
		return checksFailed{}
	}
	return nil
}

// pendingLine sums up a plan: how many changes, and what applies them.
func pendingLine(changes []livediff.Change) string {
	all := int64(len(changes))
	counts := map[string]int64{}
	for _, ch := range changes {
		counts[ch.Needs]++
	}
	// who names a share of the changes as the subject of "need(s)".
	who := func(n int64) string {
		switch {
		case n == all && n == 1:
			return "it needs"
		case n == all:
			return "they need"
		case n == 1:
			return "1 needs"
		}
		return strconv.FormatInt(n, 10) + " need"
	}
	var parts []string
	if n := counts[livediff.ByBootstrap]; n > 0 {
		them := strconv.FormatInt(n, 10)
		if n == all {
			them = map[bool]string{true: "it", false: "them"}[n == 1]
		}
		parts = append(parts, "citusgen bootstrap applies "+them)
	}
	for _, f := range []string{livediff.ByPrune, livediff.ByRebalance} {
		if n := counts[f]; n > 0 {
			parts = append(parts, who(n)+" bootstrap "+f)
		}
	}
	if n := counts[livediff.ByHand]; n > 0 {
		parts = append(parts, who(n)+" a person (the detail says what to do)")
	}
	return english.Plural(all, "change") + " pending: " + strings.Join(parts, "; ")
}

type verifyCmd struct {
	specFlag
	connFlags
	Timeout  time.Duration `default:"30s" env:"CITUSGEN_TIMEOUT" help:"Bound on each run; a silent port never hangs it."`
	Wait     time.Duration `env:"CITUSGEN_VERIFY_WAIT" placeholder:"DURATION" help:"Check again until every check passes or DURATION has passed (a cluster still coming up: nodes starting, citus_setup registering), printing on stderr what it waits for."`
	JSON     bool          `name:"json" help:"Print the report as JSON."`
	Smoke    bool          `help:"Also create a distributed table in a scratch schema, write and count rows across shards, and drop it."`
	Failures bool          `help:"Print only the failing checks (the counts still cover all)."`
}

func (c *verifyCmd) Run(e *env) error {
	t, o, err := liveSpec(e, c.specFlag, c.connFlags)
	if err != nil {
		return err
	}
	var report *verify.Report
	start := time.Now()
	lastSaid := time.Time{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
		report, err = verify.Run(ctx, t, verify.Options{Cluster: o, Smoke: c.Smoke})
		cancel()
		if err != nil {
			return usageError{err.Error()}
		}
		waited := time.Since(start)
		if report.OK() || c.Wait <= 0 || waited >= c.Wait {
			if c.Wait > 0 && report.OK() && waited > time.Second {
				fmt.Fprintf(e.stderr, "citusgen: the cluster matches the topology after %s\n", waited.Round(time.Second))
			}
			break
		}
		if time.Since(lastSaid) >= 5*time.Second {
			fmt.Fprintf(e.stderr, "citusgen: waiting for the cluster (%s so far, up to %s): %s\n", waited.Round(time.Second), c.Wait, waitingFor(report))
			lastSaid = time.Now()
		}
		time.Sleep(min(time.Second, c.Wait-waited))
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
			"ok": report.OK(), "complete": len(report.Unread) == 0, "unread": report.Unread, "passed": pass, "failed": fail, "skipped": skip,
			"elapsed_seconds": report.Elapsed.Seconds(), "checks": shown,
		}); err != nil {
			return err
		}
	} else {
		writeTable(e, report, shown, c.Failures)
	}
	if len(report.Unread) > 0 {
		return couldNotRead{what: "verify could not read " + strings.Join(report.Unread, ", ") + " (see reachable and authenticated above)"}
	}
	if !report.OK() {
		return checksFailed{}
	}
	return nil
}

// waitingFor names the failing checks, briefly.
func waitingFor(r *verify.Report) string {
	var names []string
	for _, ch := range r.Checks {
		if ch.Status == verify.Fail {
			names = append(names, ch.Name+" "+ch.Node)
		}
	}
	if len(names) > 4 {
		names = append(names[:4], fmt.Sprintf("and %d more", len(names)-4))
	}
	return english.Plural(len(names), "check") + " failing: " + strings.Join(names, ", ")
}

// checksFailed: the report already said what failed; exit 1 quietly.
type checksFailed struct{}

func (checksFailed) Error() string { return "" }

// couldNotRead: part of the cluster could not be read, so the report or
// plan is incomplete (exit 3).
type couldNotRead struct {
	problems []live.Problem
	redact   func(string) string
	what     string
}

func (c couldNotRead) Error() string {
	var b strings.Builder
	for _, p := range c.problems {
		fmt.Fprintf(&b, "could not read %s: %s\n", p.Node, oneLine(c.redact(p.Detail)))
		if p.Hint != "" {
			fmt.Fprintf(&b, "  hint: %s\n", oneLine(c.redact(p.Hint)))
		}
	}
	b.WriteString(c.what)
	return b.String()
}

func writeTable(e *env, r *verify.Report, shown []verify.Check, failuresOnly bool) {
	pass, fail, skip := r.Counts()
	if failuresOnly && len(shown) == 0 {
		fmt.Fprintf(e.stdout, "no check failed: %d passed, %d skipped (%s)\n", pass, skip, r.Elapsed.Round(time.Millisecond))
		return
	}
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
		return fmt.Errorf("reset failed: %s", o.Redact(t, err.Error()))
	}
	return nil
}

// oneLine folds line breaks (and tabs, which would shift the table's
// columns) into spaces.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == '\t' }), " ")
}
