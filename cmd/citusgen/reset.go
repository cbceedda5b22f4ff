package main

import (
	"fmt"
	"time"

	"github.com/citusgen/citusgen/bootstrap"
	"github.com/citusgen/citusgen/generator"
)

type resetCmd struct {
	specFlag
	connFlags
	Yes  bool          `help:"Really drop and recreate the database on every node."`
	Wait time.Duration `default:"60s" env:"CITUSGEN_WAIT" help:"How long to wait for the nodes to accept connections, and for each statement. 0: try each node once (statements are then bounded by 60s); negative values are refused."`
}

func (c *resetCmd) Run(e *env) error {
	if err := checkWait(e, c.Wait, "--wait", "CITUSGEN_WAIT", "60s, the default", "try each node once without waiting"); err != nil {
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
	if err := bootstrap.Reset(e.ctx, t, bootstrap.Options{Cluster: o, Wait: c.Wait, NoWait: c.Wait == 0, Progress: e.stderr}); err != nil && e.ctx.Err() != nil {
		return fmt.Errorf("reset stopped; the nodes above that say done were reset, the statement it was running is canceled: run citusgen reset --yes again to reset every node, then citusgen bootstrap")
	} else if err != nil {
		return redacted{"reset failed: " + o.Redact(t, err.Error()), err}
	}
	return nil
}
