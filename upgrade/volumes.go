package upgrade

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/pgupgrade"
)

// job is a node's pg_upgrade in leg i.
func (r *run) job(i int, n NodeState) pgupgrade.Node {
	l := r.Legs[i]
	port := r.t.ContainerPort
	return pgupgrade.Node{
		Name: n.Service, Volume: n.Volume,
		OldMajor: l.From.Postgres, NewMajor: l.To.Postgres,
		User:    r.t.User,
		Init:    n.Init[i],
		Link:    r.state.Link,
		Network: n.Network, Host: n.Service, Port: port, Password: r.o.Cluster.Password,
	}
}

func volumeImage(ctx context.Context, l Leg) (string, error) {
	return pgupgrade.Image(ctx, l.From.Name, l.To.Name, l.From.Postgres, l.To.Postgres)
}

// volumeChecks are the checks of a new run that look into the volumes:
// free space for the mode, and pg_upgrade --check of the first
// PostgreSQL leg against the running servers.
func (r *run) volumeChecks(sql *sqlNodes) []string {
	var problems []string
	pgLeg := -1
	for i, l := range r.Legs {
		if l.Kind == PostgresLeg {
			pgLeg = i
			break
		}
	}
	state := &State{Link: r.o.Link}
	for _, n := range r.Nodes {
		c := r.ctrs[n.Service]
		switch {
		case n.Err != "":
			problems = append(problems, fmt.Sprintf("%s: measuring volume %s: %s", n.Service, c.Volume, n.Err))
		case n.Free < n.Need:
			problems = append(problems, fmt.Sprintf("%s: volume %s has %s free, and %s mode needs about %s; free space there, or use --link (no copy, no rollback once the new cluster starts)", n.Service, c.Volume, english.Bytes(n.Free), r.Mode, english.Bytes(n.Need)))
		}
		state.Nodes = append(state.Nodes, NodeState{Service: n.Service, Volume: c.Volume, Network: c.Network})
	}
	if pgLeg != 0 || len(problems) > 0 {
		return problems // a later leg is checked when its nodes run
	}
	saved := r.state
	r.state = state
	defer func() { r.state = saved }()
	if err := r.readInitInto(0, sql); err != nil {
		return append(problems, err.Error())
	}
	return append(problems, r.checkLeg(0)...)
}

func (r *run) readInitInto(leg int, sql *sqlNodes) error {
	for i := range r.state.Nodes {
		n := &r.state.Nodes[i]
		is, err := sql.initSettings(r.ctx, n.Service, r.Legs[leg].From.Postgres)
		if err != nil {
			return err
		}
		n.Init = map[int]pgupgrade.InitSettings{leg: is}
	}
	return nil
}

// checkLeg runs pg_upgrade --check for leg i on every node.
func (r *run) checkLeg(i int) []string {
	img, err := volumeImage(r.ctx, r.Legs[i])
	if err != nil {
		return []string{fmt.Sprintf("building the image with PostgreSQL %d and %d: %v", r.Legs[i].From.Postgres, r.Legs[i].To.Postgres, err)}
	}
	problems := make([]string, len(r.state.Nodes))
	r.eachNode(func(n NodeState) error {
		r.say("%s: pg_upgrade --check", n.Service)
		if err := pgupgrade.Check(r.ctx, img, r.job(i, n)); err != nil {
			problems[slices.IndexFunc(r.state.Nodes, func(x NodeState) bool { return x.Service == n.Service })] = fmt.Sprintf("%s: pg_upgrade --check fails: %v", n.Service, err)
		}
		return nil
	})
	return slices.DeleteFunc(problems, func(p string) bool { return p == "" })
}

// liveChecks check a later PostgreSQL leg before its nodes stop.
func (r *run) liveChecks(i int) error {
	if problems := r.checkLeg(i); len(problems) > 0 {
		return fmt.Errorf("leg %d did not start, its nodes still run %s:\n- %s", i+1, r.Legs[i].From.Name, strings.Join(problems, "\n- "))
	}
	return nil
}

// dataDir is where an image of major keeps its data, relative to the
// volume's root.
func dataDir(major int) string {
	if major >= citus.LayoutMajor {
		return fmt.Sprintf("%d/docker", major)
	}
	return "."
}

// dataSize is the size of the data in a volume and the space free there,
// read in a one-off container of im with the volume mounted read-only.
func dataSize(ctx context.Context, im Image, volume string) (size, free int64, err error) {
	out, err := exec.CommandContext(ctx, "docker", "run", "--rm", "--entrypoint", "sh", "-e", "DATA="+dataDir(im.Postgres),
		"-v", volume+":/v:ro", im.Name, "-c",
		`cd /v && du -sk "$DATA" | cut -f1 && df -Pk /v | awk 'NR==2 {print $4}'`).CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	if _, err := fmt.Sscan(string(out), &size, &free); err != nil {
		return 0, 0, fmt.Errorf("unexpected du/df output %q", out)
	}
	return size * 1024, free * 1024, nil
}

// snapshotScript keeps, restores or drops a copy of a node's data for a
// Citus leg's rollback (ALTER EXTENSION citus UPDATE changes the data in
// place). The copy sits in the volume beside the data, named .citusgen-*,
// which the copy itself leaves out; .complete marks a whole copy, so a
// copy stopped half-way is made again.
const snapshotScript = `set -eu
d="/v/$DATA"; s=/v/.citusgen-snapshot
case "$1" in
snapshot)
	[ -f "$s/.complete" ] && exit 0
	rm -rf "$s.tmp"; mkdir "$s.tmp"
	(cd "$d" && tar --exclude='./.citusgen-*' -cf - .) | (cd "$s.tmp" && tar -xpf -)
	touch "$s.tmp/.complete"; mv "$s.tmp" "$s" ;;
restore)
	[ -f "$s/.complete" ] || { echo "no complete copy at $s" >&2; exit 3; }
	find "$d" -mindepth 1 -maxdepth 1 ! -name '.citusgen-*' -exec rm -rf {} +
	(cd "$s" && tar --exclude=./.complete -cf - .) | (cd "$d" && tar -xpf -) ;;
drop)
	rm -rf "$s" "$s.tmp" ;;
esac`

func snapshot(ctx context.Context, im Image, volume, action string) error {
	out, err := exec.CommandContext(ctx, "docker", "run", "--rm", "--entrypoint", "sh", "-e", "DATA="+dataDir(im.Postgres),
		"-v", volume+":/v", im.Name, "-c", snapshotScript, "snapshot", action).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s of volume %s: %v: %s", action, volume, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// measure fills in each node's space: copy mode needs the data's size once
// per copy (a Citus leg first keeps one, each PostgreSQL leg another), and
// a tenth more for WAL and logs; link mode that tenth.
func (p *Plan) measure(ctx context.Context) {
	copies := int64(0)
	for i, l := range p.Legs {
		if !p.o.Link && (l.Kind == PostgresLeg || i == 0) {
			copies++
		}
	}
	var wg sync.WaitGroup
	for i, n := range p.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			size, free, err := dataSize(ctx, p.From, n.Volume)
			if err != nil {
				p.Nodes[i].Err = err.Error()
				return
			}
			p.Nodes[i].Size, p.Nodes[i].Need, p.Nodes[i].Free = size, size*copies+size/10, free
		}()
	}
	wg.Wait()
}
