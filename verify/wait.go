package verify

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/topology"
)

// Until runs the checks again until every check passes or wait has passed
// (a cluster still coming up: nodes starting, the setup service
// registering), each run bounded by timeout, and returns the last report.
// It says on progress what it waits for, every 5 seconds at most, and
// how long it took when it waited. A wait of zero runs once. A canceled
// ctx stops it with ctx's error.
func Until(ctx context.Context, t *topology.Topology, o Options, timeout, wait time.Duration, progress io.Writer) (*Report, error) {
	start := time.Now()
	var lastSaid time.Time
	for {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		report, err := Run(rctx, t, o)
		cancel()
		if err == nil && ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		if err != nil {
			return nil, err
		}
		waited := time.Since(start)
		if report.OK() || wait <= 0 || waited >= wait {
			if wait > 0 && report.OK() && waited > time.Second {
				fmt.Fprintf(progress, "citusgen: the cluster matches the topology after %s\n", waited.Round(time.Second))
			}
			return report, nil
		}
		if time.Since(lastSaid) >= 5*time.Second {
			fmt.Fprintf(progress, "citusgen: waiting for the cluster (%s so far, up to %s): %s\n", waited.Round(time.Second), wait, report.failing())
			lastSaid = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(min(time.Second, wait-waited)):
		}
	}
}

// failing names the failing checks, briefly.
func (r *Report) failing() string {
	var names []string
	for _, ch := range r.Checks {
		if ch.Status == Fail {
			names = append(names, ch.Name+" "+ch.Node)
		}
	}
	if len(names) > 4 {
		names = append(names[:4], fmt.Sprintf("and %d more", len(names)-4))
	}
	return english.Plural(len(names), "check") + " failing: " + strings.Join(names, ", ")
}
