package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/citusgen/citusgen/diagnosis"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/verify"
)

type verifyCmd struct {
	liveFlags
	Timeout  time.Duration `default:"30s" env:"CITUSGEN_TIMEOUT" help:"Bound on each run, so a silent port never hangs it; must be more than 0."`
	Wait     time.Duration `env:"CITUSGEN_VERIFY_WAIT" placeholder:"DURATION" help:"Check again until every check passes or DURATION has passed (a cluster still coming up: nodes starting, citus_setup registering), printing on stderr what it waits for. 0 (the default) checks once; negative values are refused."`
	JSON     bool          `name:"json" help:"Print the report as JSON."`
	Smoke    bool          `help:"Also create a distributed table in a scratch schema, write and count rows across shards, and drop it."`
	Failures bool          `help:"Print only the failing checks (the counts still cover all)."`
}

func (c *verifyCmd) Run(e *env) error {
	if err := checkTimeout(e, c.Timeout); err != nil {
		return err
	}
	if err := checkWait(e, c.Wait, "60s", "check once (the default)"); err != nil {
		return err
	}
	t, o, err := c.live(e)
	if err != nil {
		return err
	}
	report, err := verify.Until(e.ctx, t, verify.Options{Cluster: o, Smoke: c.Smoke}, c.Timeout, c.Wait, e.stderr)
	if err != nil && e.ctx.Err() != nil {
		return fmt.Errorf("verify stopped before its report; it changes nothing, so nothing is left running")
	}
	if err != nil {
		return badInput{err}
	}
	shown := append([]verify.Check{}, report.Checks...) // [], not null, in JSON
	if c.Failures {
		shown = slices.DeleteFunc(shown, func(ch verify.Check) bool { return ch.Status != verify.Fail })
	}
	if c.JSON {
		pass, fail, skip := report.Counts()
		if err := e.printJSON(map[string]any{
			"ok": report.OK(), "complete": len(report.Unread) == 0, "unread": report.Unread, "passed": pass, "failed": fail, "skipped": skip,
			"elapsed_seconds": report.Elapsed.Seconds(), "checks": shown,
		}); err != nil {
			return err
		}
	} else {
		writeTable(e, report, shown, c.Failures)
	}
	if len(report.Unread) > 0 {
		return couldNotRead{what: "verify could not read " + strings.Join(report.Unread, ", ") + " (see reachable, authenticated and readable above)"}
	}
	if !report.OK() {
		return errShown
	}
	return nil
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

type planCmd struct {
	liveFlags
	JSON    bool          `name:"json" help:"Print the plan as JSON."`
	Timeout time.Duration `default:"30s" env:"CITUSGEN_TIMEOUT" help:"Bound on the whole run; must be more than 0."`
}

// Run lists what bootstrap (with --rebalance and --prune) would change;
// read-only.
func (c *planCmd) Run(e *env) error {
	if err := checkTimeout(e, c.Timeout); err != nil {
		return err
	}
	t, o, err := c.live(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, c.Timeout)
	defer cancel()
	cl, err := live.Read(ctx, t, live.Options{Cluster: o, Reshape: true, Health: true})
	if e.ctx.Err() != nil {
		return errors.New("plan stopped before its reading was complete; it changes nothing, so nothing is left running")
	}
	if err != nil {
		return badInput{err}
	}
	p := diagnosis.PlanOf(cl)
	redact := func(s string) string { return o.Redact(t, s) }
	for _, n := range p.Notes {
		fmt.Fprintf(e.stderr, "citusgen: note: %s\n", oneLine(redact(n)))
	}
	if c.JSON {
		type problem struct {
			Node   string `json:"node"`
			Detail string `json:"detail"`
			Hint   string `json:"hint,omitempty"`
		}
		var probs []problem
		for _, u := range p.Unread {
			probs = append(probs, problem{u.Node, redact(u.Detail), redact(u.Hint)})
		}
		changes := append([]diagnosis.Change{}, p.Changes...) // [], not null
		if err := e.printJSON(map[string]any{"in_sync": p.InSync(), "complete": p.Complete(), "unread": probs, "changes": changes, "summary": p.Summary()}); err != nil {
			return err
		}
	} else {
		if len(p.Changes) > 0 {
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ACTION\tNODE\tDETAIL")
			for _, a := range p.Changes {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Kind, a.Node, oneLine(redact(a.Detail)))
			}
			tw.Flush()
		}
		if p.Complete() {
			fmt.Fprintln(e.stdout, p.Summary())
		}
	}
	switch {
	case !p.Complete():
		return couldNotRead{problems: p.Unread, redact: redact, what: "plan is incomplete"}
	case len(p.Changes) > 0:
		return errShown
	}
	return nil
}

// Every duration flag has one meaning for 0 (its help says which) and
// refuses what it cannot mean, naming where the value came from: a --wait
// is never negative, a --timeout bounds the run, so it is more than 0.

// checkWait refuses a negative wait; zero means "do not wait" (zero says
// what that is for the flag).
func checkWait(e *env, d time.Duration, example, zero string) error {
	if d >= 0 {
		return nil
	}
	return badInputf("%s is %s, a negative duration: give how long to wait (for example %s), or 0 to %s", e.source("wait"), d, example, zero)
}

// checkTimeout refuses a timeout that is not positive.
func checkTimeout(e *env, d time.Duration) error {
	if d > 0 {
		return nil
	}
	return badInputf("%s is %s: it bounds the whole run, so it must be more than 0: give for example 30s (the default)", e.source("timeout"), d)
}
