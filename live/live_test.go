package live_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/testsupport/goldenfile"
	"github.com/citusgen/citusgen/testsupport/pgtest"
	"github.com/citusgen/citusgen/topology"
)

// nodes are readings of every node of t, connected, on server and citus.
func nodes(t *testing.T, top *topology.Topology, server, citus string) []*live.Node {
	t.Helper()
	eps, err := cluster.Endpoints(top, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*live.Node
	for _, ep := range eps {
		out = append(out, &live.Node{Endpoint: ep, Connected: true, Facts: true, ServerVersion: server, Citus: citus, CitusAvailable: citus, Preload: "citus", LocalGroup: -1})
	}
	return out
}

// A node is compared with what its image names, the Citus release and the
// PostgreSQL major, and only where the topology knows both.
func TestImageDrift(t *testing.T) {
	const spec = "password: pw\ncoordinator: {service: c, alias: c, port: 6000}\nworkers: [{service: w1, port: 6001}, {service: w2, port: 6002, image: none}]\n"
	top := goldenfile.Spec(t, "image: citusdata/citus:14.1\n"+spec)
	ns := nodes(t, top, "18.4 (Debian 18.4-1.pgdg13+1)", "14.1-1")
	if drift, named := live.Assemble(top, ns, live.CoordinatorReading{}).ImageDrift(); len(drift) != 0 || strings.Join(named, ",") != "c,w1" {
		t.Errorf("in step: drift %+v, compared %v", drift, named)
	}
	ns[1].ServerVersion, ns[1].Citus = "17.6", "13.2-1"
	ns[2].ServerVersion = "15.8" // image: none: not an image's to say
	drift, _ := live.Assemble(top, ns, live.CoordinatorReading{}).ImageDrift()
	if len(drift) != 1 || drift[0] != (live.ImageDrift{Service: "w1", Image: "citusdata/citus:14.1", Release: "14.1", Running: "13.2-1", Postgres: 18, RunningPostgres: 17}) {
		t.Fatalf("drift: %+v", drift)
	}
	detail, hint := live.ImageDriftDetail(drift)
	if detail != "w1 runs citus 13.2-1, its image citusdata/citus:14.1 names 14.1; w1 runs PostgreSQL 17, its image citusdata/citus:14.1 is PostgreSQL 18" ||
		!strings.Contains(hint, "upgrade the data first (citusgen upgrade; README: Upgrading Citus and PostgreSQL)") {
		t.Errorf("detail %q\nhint %q", detail, hint)
	}
	// An image whose major the spec says: compared with that.
	mirror := goldenfile.Spec(t, "image: mirror/citus:custom\npostgres: 16\n"+spec)
	if drift, _ := live.Assemble(mirror, nodes(t, mirror, "17.2", "13.2-1"), live.CoordinatorReading{}).ImageDrift(); len(drift) != 2 || drift[0].Postgres != 16 || drift[0].Running != "" {
		t.Errorf("mirror: %+v", drift)
	}
}

// What to do about a node that could not be read depends on how it runs.
func TestFailureHint(t *testing.T) {
	top := goldenfile.Spec(t, "password_env: PW\ncoordinator: {service: c, alias: c, port: 6000}\nworkers: [{service: w1, port: 6001, image: none}]\n")
	ns := nodes(t, top, "", "")
	for _, n := range ns {
		n.Connected, n.Failure = false, cluster.Unreachable
	}
	if h := ns[0].FailureHint(top); !strings.Contains(h, "start it (docker compose up -d c); if it does not stay up, docker compose logs c says why") {
		t.Errorf("container: %s", h)
	}
	if h := ns[1].FailureHint(top); strings.Contains(h, "docker") || !strings.Contains(h, "the server is down or not at localhost:6001: start it") {
		t.Errorf("server outside compose: %s", h)
	}
	ns[0].Failure = cluster.AuthFailed
	if h := ns[0].FailureHint(top); !strings.Contains(h, "make the $PW match the password of user commcarehq on c") {
		t.Errorf("auth: %s", h)
	}
	if h := live.StepHint(top, "c", `extension "citus" is not available`); !strings.Contains(h, "the Citus extension is not installed on c") {
		t.Errorf("step hint: %s", h)
	}
}

// A real reading of plain PostgreSQL servers: the facts of each, and a
// stopped one among what could not be read, with what to do.
func TestReadPlainPostgres(t *testing.T) {
	cl := pgtest.StartCluster(t, 1, pgtest.Options{Password: "pw"})
	top := goldenfile.Spec(t, string(cl.Spec("image: none\n")))
	cl.Workers[0].Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := live.Read(ctx, top, live.Options{Cluster: cluster.Options{Password: "pw", SSLMode: "disable", ConnectTimeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	coord := c.Coordinator()
	if !coord.HasFacts() || !strings.HasPrefix(coord.ServerVersion, "1") || coord.Citus != "" || c.Match != nil {
		t.Errorf("coordinator: %+v", coord)
	}
	u := c.Unread()
	if len(u) != 1 || u[0].Node != "worker1" || !strings.Contains(u[0].Detail, "connection refused") || !strings.Contains(u[0].Hint, "the server is down") {
		t.Errorf("unread: %+v", u)
	}
}
