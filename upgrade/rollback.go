package upgrade

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/pgupgrade"
)

func (r *run) done(prefix string) bool {
	for k := range r.state.Done {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// Rollback undoes a run, finished or not: the nodes stop, each leg that
// began is undone last leg first (pg_upgrade's old data back in place, the
// Citus leg's copy restored), the compose file as it was is written back,
// the nodes start on the old images, and Citus's prepare step, where it
// ran on the old data, is taken back.
func (p *Plan) Rollback(ctx context.Context) error {
	if p.state == nil {
		return fmt.Errorf("no upgrade is recorded in %s: nothing to roll back", StatePath(p.ComposeFile))
	}
	r := p.run(ctx)
	for i, l := range p.Legs {
		if l.Kind == CitusLeg && r.state.Link && r.done(fmt.Sprintf("leg%d/extension/", i+1)) {
			return fmt.Errorf("the upgrade ran with --link, which keeps no copy, and leg %d has updated the Citus extension in place (ALTER EXTENSION citus UPDATE): the old image cannot run this data; restore your backup, or finish the upgrade with citusgen upgrade --apply", i+1)
		}
	}
	r.say("rolling back the upgrade to %s: the nodes go back to %s", p.To.Name, p.From.Name)
	if err := r.stopAll(); err != nil {
		return err
	}
	for i := len(p.Legs) - 1; i >= 0; i-- {
		l := p.Legs[i]
		leg := fmt.Sprintf("leg%d/", i+1)
		switch {
		case l.Kind == PostgresLeg && r.done(leg+"stop"):
			img, err := volumeImage(ctx, l)
			if err != nil {
				return err
			}
			for _, n := range r.state.Nodes {
				r.say("%s: putting the PostgreSQL %d data back", n.Service, l.From.Postgres)
				if err := pgupgrade.Rollback(ctx, img, r.job(i, n)); err != nil {
					return fmt.Errorf("%s: %w", n.Service, err)
				}
			}
		case l.Kind == CitusLeg && r.done(leg+"snapshot/"):
			for _, n := range r.state.Nodes {
				r.say("%s: restoring the copy of the data taken before Citus %s", n.Service, l.To.Citus)
				if err := snapshot(ctx, l.From, n.Volume, "restore"); err != nil {
					return fmt.Errorf("%s: %w", n.Service, err)
				}
			}
		}
	}
	if err := atomicfile.Write(p.ComposeFile, r.state.Compose); err != nil {
		return fmt.Errorf("writing back %s: %w", p.ComposeFile, err)
	}
	r.say("wrote %s back as it was before the upgrade", p.ComposeFile)
	if err := r.startNodes(); err != nil {
		return err
	}
	if p.Legs[0].Kind == PostgresLeg && r.done("leg1/prepare") {
		if err := r.undoPrepare(p.From); err != nil {
			return fmt.Errorf("taking back citus_prepare_pg_upgrade(): %w", err)
		}
	}
	if _, err := r.compose.run(ctx, "up", "-d", "--wait"); err != nil {
		return err
	}
	if err := verifyOn(ctx, legTopology(r.t, p.From), r.o.Cluster, r.o.Timeout, r.o.Progress); err != nil {
		return fmt.Errorf("the nodes run %s again, but verify fails:\n  %s", p.From.Name, err)
	}
	if p.Legs[0].Kind == CitusLeg {
		for _, n := range r.state.Nodes {
			if err := snapshot(ctx, p.From, n.Volume, "drop"); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(r.path); err != nil {
		return err
	}
	r.say("rolled back: the nodes run %s on their old data; verify passes", p.From.Name)
	return nil
}

// DropOld frees the old data a finished copy-mode run kept.
func (p *Plan) DropOld(ctx context.Context) error {
	if p.state == nil {
		return fmt.Errorf("no upgrade is recorded in %s: no old data to drop", StatePath(p.ComposeFile))
	}
	if !p.state.Finished {
		return fmt.Errorf("the upgrade to %s has not finished (%s): finish it (citusgen upgrade --apply) or roll it back (citusgen upgrade --rollback); the old data is what rollback needs", p.To.Name, StatePath(p.ComposeFile))
	}
	r := p.run(ctx)
	for i, l := range p.Legs {
		switch {
		case l.Kind == PostgresLeg:
			img, err := volumeImage(ctx, l)
			if err != nil {
				return err
			}
			for _, n := range r.state.Nodes {
				if err := pgupgrade.DropOld(ctx, img, r.job(i, n)); err != nil {
					return fmt.Errorf("%s: %w", n.Service, err)
				}
			}
		case i == 0:
			for _, n := range r.state.Nodes {
				if err := snapshot(ctx, p.To, n.Volume, "drop"); err != nil {
					return fmt.Errorf("%s: %w", n.Service, err)
				}
			}
		}
	}
	if err := os.Remove(r.path); err != nil {
		return err
	}
	r.say("dropped the old data the upgrade to %s kept; rollback is no longer possible", p.To.Name)
	return nil
}
