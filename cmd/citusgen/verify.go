package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/citusgen/citusgen/verify"
)

type verifyCmd struct {
	specFlag
	connFlags
	Timeout  time.Duration `default:"30s" env:"CITUSGEN_TIMEOUT" help:"Bound on each run, so a silent port never hangs it; must be more than 0."`
	Wait     time.Duration `env:"CITUSGEN_VERIFY_WAIT" placeholder:"DURATION" help:"Check again until every check passes or DURATION has passed (a cluster still coming up: nodes starting, citus_setup registering), printing on stderr what it waits for. 0 (the default) checks once; negative values are refused."`
	JSON     bool          `name:"json" help:"Print the report as JSON."`
	Smoke    bool          `help:"Also create a distributed table in a scratch schema, write and count rows across shards, and drop it."`
	Failures bool          `help:"Print only the failing checks (the counts still cover all)."`
}

func (c *verifyCmd) Run(e *env) error {
	if err := checkTimeout(e, c.Timeout, "--timeout", "CITUSGEN_TIMEOUT"); err != nil {
		return err
	}
	if err := checkWait(e, c.Wait, "--wait", "CITUSGEN_VERIFY_WAIT", "60s", "check once (the default)"); err != nil {
		return err
	}
	t, o, err := liveSpec(e, c.specFlag, c.connFlags)
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
