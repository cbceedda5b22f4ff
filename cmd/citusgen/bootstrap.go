package main

import (
	"time"

	"github.com/citusgen/citusgen/bootstrap"
	"github.com/citusgen/citusgen/generator"
)

type bootstrapCmd struct {
	specFlag
	connFlags
	Wait      time.Duration `default:"60s" env:"CITUSGEN_WAIT" help:"How long to wait for the nodes to accept connections, for another bootstrap's lock, and for each statement, rebalance and drain. 0: try each node once and do not wait for another bootstrap (statements, a rebalance and a drain are then bounded by 60s); negative values are refused."`
	DryRun    bool          `help:"Print the SQL bootstrap would run on a new cluster (as a psql script) and connect to nothing."`
	Rebalance bool          `help:"Also move shards onto the topology's workers with Citus's background rebalancer (or wait for a rebalance already running), with progress on stderr."`
	Prune     bool          `help:"Also drain registered workers the topology no longer lists (their shards move to the others), then remove them."`
}

// Run applies what plan lists. Exit 0 when the cluster then matches the
// topology, 1 when something is left (naming the flag or the manual step
// it needs) or a step failed.
func (c *bootstrapCmd) Run(e *env) error {
	if err := checkWait(e, c.Wait, "--wait", "CITUSGEN_WAIT", "60s, the default", "try each node once without waiting"); err != nil {
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
	res, err := bootstrap.Run(e.ctx, t, bootstrap.Options{Cluster: o, Wait: c.Wait, NoWait: c.Wait == 0, Progress: e.stderr, Prune: c.Prune, Rebalance: c.Rebalance})
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
