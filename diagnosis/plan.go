package diagnosis

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
)

// Plan is what would make the cluster match the topology, from one reading.
type Plan struct {
	// Changes, in the order bootstrap applies them.
	Changes []Change
	// Unread are the parts of the cluster that could not be read: the
	// plan is incomplete.
	Unread []live.Problem
	// Notes say what the plan could not weigh where its changes explain it
	// (the shard balance, while a registration is to be fixed first).
	Notes []string
}

// PlanOf makes the plan of one reading of the cluster: its changes, what
// could not be read, and a summary.
func PlanOf(c *live.Cluster) *Plan {
	p := &Plan{Changes: Diagnose(c).Changes, Unread: c.Unread()}
	// Citus weighs shards only when it reaches every registered node: an
	// unknown balance leaves the plan incomplete unless a change explains
	// it (the registration to fix comes first), or a node that could not
	// be read (a hung worker is that node, not the coordinator).
	if pr := c.ReshapeProblem(); pr != nil {
		if len(p.Changes) == 0 && len(p.Unread) == 0 {
			p.Unread = append(p.Unread, *pr)
		} else {
			p.Notes = append(p.Notes, pr.Detail)
		}
	}
	return p
}

// InSync reports whether the whole cluster was read and nothing is to change.
func (p *Plan) InSync() bool { return len(p.Changes) == 0 && len(p.Unread) == 0 }

// Complete reports whether the whole cluster was read.
func (p *Plan) Complete() bool { return len(p.Unread) == 0 }

// Summary says in a line where the cluster stands: in sync, what is
// pending and what applies it, or what could not be read.
func (p *Plan) Summary() string {
	switch {
	case !p.Complete():
		var nodes []string
		for _, u := range p.Unread {
			nodes = append(nodes, u.Node)
		}
		return "incomplete: could not read " + strings.Join(nodes, ", ")
	case len(p.Changes) == 0:
		return "in sync: the cluster matches the topology"
	}
	all := int64(len(p.Changes))
	counts := p.byNeeds()
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
	if n := counts[ByBootstrap]; n > 0 {
		them := strconv.FormatInt(n, 10)
		if n == all {
			them = map[bool]string{true: "it", false: "them"}[n == 1]
		}
		parts = append(parts, "citusgen bootstrap applies "+them)
	}
	for _, f := range []Needs{ByPrune, ByRebalance} {
		if n := counts[f]; n > 0 {
			parts = append(parts, who(n)+" bootstrap "+string(f))
		}
	}
	if n := counts[ByHand]; n > 0 {
		parts = append(parts, who(n)+" a person (the detail says what to do)")
	}
	return english.Plural(all, "change") + " pending: " + strings.Join(parts, "; ")
}

// Left says why what a bootstrap left pending is not a success, and what
// applies it; nil when nothing is.
func (p *Plan) Left() error {
	if len(p.Changes) == 0 {
		return nil
	}
	counts := p.byNeeds()
	var parts, flags []string
	for _, f := range []Needs{ByPrune, ByRebalance} {
		if counts[f] > 0 {
			flags = append(flags, string(f))
		}
	}
	if len(flags) > 0 {
		parts = append(parts, "run citusgen bootstrap "+strings.Join(flags, " ")+" to apply what needs "+strings.Join(flags, " and "))
	}
	manual, other := counts[ByHand], counts[ByBootstrap]
	if manual > 0 {
		parts = append(parts, english.Plural(manual, "change")+map[bool]string{true: " needs", false: " need"}[manual == 1]+" a person (see above)")
	}
	if other > 0 && manual > 0 {
		parts = append(parts, fmt.Sprintf("%s wait for those", english.Plural(other, "other change")))
	} else if other > 0 {
		parts = append(parts, fmt.Sprintf("%s did not take effect: run citusgen plan to see them", english.Plural(other, "change")))
	}
	return fmt.Errorf("the cluster does not match the topology yet: %s", strings.Join(parts, "; "))
}

func (p *Plan) byNeeds() map[Needs]int64 {
	counts := map[Needs]int64{}
	for _, ch := range p.Changes {
		counts[ch.Needs]++
	}
	return counts
}
