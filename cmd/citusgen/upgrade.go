package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/topology"
	"github.com/citusgen/citusgen/upgrade"
)

type upgradeCmd struct {
	liveFlags
	ComposeFile string        `name:"compose-file" default:"hq-compose.yml" placeholder:"FILE" predictor:"file" env:"CITUSGEN_COMPOSE_FILE" help:"The compose file the cluster runs from; upgrade rewrites it for each leg's image."`
	Apply       bool          `xor:"action" help:"Run the upgrade (without it, print the plan). Run it again to resume a run that stopped."`
	Rollback    bool          `xor:"action" help:"Undo the upgrade recorded beside the compose file, finished or not: the old images on the old data."`
	DropOld     bool          `name:"drop-old" xor:"action" help:"Free the old data a finished upgrade kept (rollback is then no longer possible)."`
	Link        bool          `help:"pg_upgrade --link: no copy of the data, so no extra space, but the old cluster cannot start again once the new one has, and no copy is kept for rollback. Take a backup first."`
	Via         string        `placeholder:"IMAGE" help:"The middle image when both the Citus release and the PostgreSQL major change (default: from the citusdata/citus tags)."`
	JSON        bool          `name:"json" help:"Print the plan as JSON."`
	Postgres    int           `placeholder:"MAJOR" help:"With image: none (servers outside compose): the PostgreSQL major to print the steps for; without it, those of a Citus release alone."`
	Wait        time.Duration `default:"5m" env:"CITUSGEN_WAIT" help:"How long to wait for the nodes to pass verify after they start on the new images (and after a rollback). 0: verify once; negative values are refused."`
}

func (upgradeCmd) Help() string {
	return `Moves the cluster the compose file runs to the image the spec names, with the data kept: a Citus release change (the nodes recreated on the new image, ALTER EXTENSION citus UPDATE, citus_finish_citus_upgrade) and a PostgreSQL major change (pg_upgrade per node in a one-off container built from the two images), both in one run when both change. Without --apply it prints the plan. The old data is kept until --drop-old; --rollback goes back to it. A run stopped anywhere resumes with --apply.`
}

func (c *upgradeCmd) Run(e *env) error {
	if err := checkWait(e, c.Wait, "5m, the default", "verify once"); err != nil {
		return err
	}
	t, o, err := c.live(e)
	if err != nil {
		return err
	}
	if t.Containerless() {
		if c.Apply || c.Rollback || c.DropOld || c.JSON {
			return badInputf("the nodes run from no image (image: none), so citusgen does not move them; citusgen upgrade without flags prints the commands to run on each node")
		}
		return upgrade.Manual(e.ctx, t, o, c.Postgres, e.stdout)
	}
	if c.Postgres != 0 {
		return badInputf("--postgres goes with image: none; for compose services the spec's image names the PostgreSQL major")
	}
	if _, err := os.Stat(c.ComposeFile); err != nil {
		return badInputf("--compose-file %s: %v; name the compose file the cluster runs from", c.ComposeFile, err)
	}
	opts := upgrade.Options{
		Cluster: o, ComposeFile: c.ComposeFile, Via: c.Via, Link: c.Link, Progress: e.stderr, Timeout: c.Wait,
		WriteCompose: func(ctx context.Context, lt *topology.Topology) error {
			le := *e
			le.ctx = ctx
			return upgradeCompose(&le, lt, c.ComposeFile)
		},
	}
	p, err := upgrade.Prepare(e.ctx, t, opts)
	if err != nil {
		return badInput{err}
	}
	var runErr error
	switch {
	case c.Apply:
		runErr = p.Apply(e.ctx)
	case c.Rollback:
		runErr = p.Rollback(e.ctx)
	case c.DropOld:
		runErr = p.DropOld(e.ctx)
	case c.JSON:
		return e.printJSON(p)
	default:
		p.Write(e.stdout)
		return nil
	}
	if runErr != nil && e.ctx.Err() != nil {
		return fmt.Errorf("upgrade stopped; every step done is recorded in %s: run citusgen upgrade --apply to resume, or --rollback to undo", upgrade.StatePath(c.ComposeFile))
	}
	if runErr != nil {
		return redacted{o.Redact(t, "upgrade: "+runErr.Error()), runErr}
	}
	return nil
}

// upgradeCompose writes the compose file for a leg's images: a file
// citusgen rendered whole (its generated header) is rendered again,
// another one gets its managed regions replaced, as render --into does.
func upgradeCompose(e *env, t *topology.Topology, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(data, []byte(generator.GeneratedComment)) {
		return intoCompose(e, t, path, false, true)
	}
	out, err := generator.ComposeFor(t, generator.ComposeFile)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, out)
}
