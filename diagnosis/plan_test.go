package diagnosis_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/diagnosis"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/topology"
)

// A cluster of the default topology as a reading would find it: every node
// with Citus 13.2, the coordinator citus_master:5432 (group 0), workers
// citus_worker1:5432 (group 1) and citus_worker2:5432 (group 2), every
// worker's metadata the coordinator's, credentials right.
type fixture struct {
	top    *topology.Topology
	nodes  []*live.Node
	shards map[int32]int64
}

func inSync() *fixture {
	top := topology.Default()
	rows := []live.Registration{
		{ID: 1, Group: 0, Name: "citus_master", Port: 5432, Active: true, Role: "primary", HasMetadata: true, MetadataSynced: true},
		{ID: 2, Group: 1, Name: "citus_worker1", Port: 5432, Active: true, Role: "primary", ShouldHaveShards: true, HasMetadata: true, MetadataSynced: true},
		{ID: 3, Group: 2, Name: "citus_worker2", Port: 5432, Active: true, Role: "primary", ShouldHaveShards: true, HasMetadata: true, MetadataSynced: true},
	}
	f := &fixture{top: top, shards: map[int32]int64{}}
	for i, n := range top.Nodes() {
		f.nodes = append(f.nodes, &live.Node{
			Endpoint:  cluster.Endpoint{Node: n, Addr: cluster.Address{Host: "localhost", Port: n.Port}},
			Connected: true, ServerVersion: "18.4", Preload: "citus", Citus: "14.1-1", CitusAvailable: "14.1-1", WalLevel: "replica",
			Registrations: append([]live.Registration(nil), rows...), LocalGroup: int32(i), Credentials: live.CredentialsOK,
		})
	}
	return f
}

func (f *fixture) coord() *live.Node { return f.nodes[0] }

func (f *fixture) worker(i int) *live.Node { return f.nodes[i] }

// edit changes the coordinator's registrations and keeps the workers'
// copies equal (as a metadata sync would).
func (f *fixture) edit(change func(rows []live.Registration) []live.Registration) {
	rows := change(f.coord().Registrations)
	for _, n := range f.nodes {
		n.Registrations = append([]live.Registration(nil), rows...)
	}
}

func (f *fixture) cluster() *live.Cluster {
	return live.Assemble(f.top, f.nodes, live.CoordinatorReading{Shards: f.shards})
}

// Each drifted state gives exactly the changes listed; verify fails where
// plan lists a change and nowhere else, on the same reading, and every row
// a change resolves is one verify does not pass.
func TestDiffAndVerifyAgree(t *testing.T) {
	for _, c := range []struct {
		name  string
		drift func(f *fixture)
		want  []string // "kind node [needs]"
	}{
		{"in sync", func(f *fixture) {}, nil},
		{"database missing", func(f *fixture) {
			w := f.worker(2)
			*w = live.Node{Endpoint: w.Endpoint, Failure: cluster.NoDatabase, Detail: "database does not exist", LocalGroup: -1, Credentials: live.CredentialsUnknown}
		}, []string{"create-database citus_worker2", "create-extension citus_worker2", "store-credentials citus_worker2", "sync-metadata citus_worker2"}},
		{"extension missing", func(f *fixture) {
			w := f.worker(1)
			w.Citus, w.Registrations, w.LocalGroup, w.Credentials = "", nil, -1, live.CredentialsUnknown
		}, []string{"create-extension citus_worker1", "store-credentials citus_worker1", "sync-metadata citus_worker1"}},
		{"Citus not installed", func(f *fixture) {
			w := f.worker(1)
			w.Citus, w.CitusAvailable, w.Registrations, w.LocalGroup, w.Credentials = "", "", nil, -1, live.CredentialsUnknown
		}, []string{"manual citus_worker1 by hand", "sync-metadata citus_worker1"}},
		{"citus not preloaded", func(f *fixture) { f.worker(2).Preload = "pg_stat_statements,citus" }, []string{"manual citus_worker2 by hand"}},
		// worker2 also runs another release than its image names.
		{"versions differ", func(f *fixture) { f.worker(2).Citus = "14.0-1" }, []string{"manual cluster by hand", "manual cluster by hand"}},
		{"image names another release", func(f *fixture) {
			for _, n := range f.nodes {
				n.Citus = "13.2-1"
			}
		}, []string{"manual cluster by hand"}},
		// A container left on the PostgreSQL 17 variant of the release: its
		// major differs from its image's and from the other nodes'.
		{"image names another PostgreSQL major", func(f *fixture) { f.worker(1).ServerVersion = "17.6 (Debian 17.6-1.pgdg13+1)" }, []string{"manual cluster by hand", "manual cluster by hand"}},
		{"worker unregistered", func(f *fixture) {
			f.edit(func(r []live.Registration) []live.Registration { return r[:2] })
		}, []string{"register-worker citus_worker2"}},
		{"worker inactive", func(f *fixture) {
			f.edit(func(r []live.Registration) []live.Registration { r[2].Active = false; return r })
		}, []string{"activate-worker citus_worker2"}},
		{"worker secondary", func(f *fixture) {
			f.edit(func(r []live.Registration) []live.Registration {
				r[2].Role, r[2].Group, r[2].HasMetadata = "secondary", 1, false
				return r
			})
		}, []string{"re-register citus_worker2"}},
		{"worker under its container name, proven by its own group", func(f *fixture) {
			f.edit(func(r []live.Registration) []live.Registration { r[1].Name = "hq_citus_worker1_1"; return r })
			f.shards[1] = 4
		}, []string{"re-register citus_worker1"}},
		{"worker under its published port on localhost, unproven and empty", func(f *fixture) {
			f.edit(func(r []live.Registration) []live.Registration { r[1].Name, r[1].Port = "localhost", 5601; return r })
			f.worker(1).LocalGroup = 0
		}, []string{"register-worker citus_worker1", "drain-remove localhost:5601 --prune"}},
		{"worker under a container name, unproven, holding shards", func(f *fixture) {
			f.edit(func(r []live.Registration) []live.Registration { r[2].Name = "hq_citus_worker2_1"; return r })
			f.worker(2).LocalGroup = 0
			f.shards[2] = 3
		}, []string{"manual citus_worker2 by hand"}},
		{"coordinator host unset", func(f *fixture) {
			f.edit(func(r []live.Registration) []live.Registration { return r[1:] })
		}, []string{"set-coordinator-host citus_master"}},
		{"coordinator host wrong", func(f *fixture) {
			f.edit(func(r []live.Registration) []live.Registration { r[0].Name = "localhost"; return r })
		}, []string{"set-coordinator-host citus_master"}},
		{"credentials missing", func(f *fixture) { f.worker(1).Credentials = live.CredentialsMissing }, []string{"store-credentials citus_worker1"}},
		{"credentials stale", func(f *fixture) { f.coord().Credentials = live.CredentialsStale }, []string{"store-credentials citus_master"}},
		{"metadata lost", func(f *fixture) { f.worker(2).Registrations, f.worker(2).LocalGroup = nil, 0 }, []string{"sync-metadata citus_worker2"}},
		{"metadata differs", func(f *fixture) { f.worker(1).Registrations[2].Port = 5602 }, []string{"sync-metadata citus_worker1"}},
		{"metadata sync unfinished", func(f *fixture) {
			f.coord().Registrations[2].MetadataSynced = false
		}, []string{"sync-metadata citus_worker2"}},
		{"extra worker, empty", func(f *fixture) {
			f.edit(func(r []live.Registration) []live.Registration {
				return append(r, live.Registration{ID: 4, Group: 3, Name: "old_worker", Port: 5432, Active: true, Role: "primary", ShouldHaveShards: true, HasMetadata: true, MetadataSynced: true})
			})
		}, []string{"drain-remove old_worker:5432 --prune"}},
		{"extra worker holding shards", func(f *fixture) {
			f.edit(func(r []live.Registration) []live.Registration {
				return append(r, live.Registration{ID: 4, Group: 3, Name: "old_worker", Port: 5432, Active: true, Role: "primary", ShouldHaveShards: true, HasMetadata: true, MetadataSynced: true})
			})
			f.shards[3] = 8
		}, []string{"drain-remove old_worker:5432 --prune", "rebalance citus_master --rebalance"}},
		{"new worker in a cluster holding shards", func(f *fixture) {
			f.edit(func(r []live.Registration) []live.Registration { return r[:2] })
			f.shards[1] = 32
		}, []string{"register-worker citus_worker2", "rebalance citus_master --rebalance"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := inSync()
			c.drift(f)
			cl := f.cluster()
			var got []string
			for _, ch := range diagnosis.PlanOf(cl).Changes {
				k := string(ch.Kind) + " " + ch.Node
				if ch.Needs != "" {
					k += " " + string(ch.Needs)
				}
				got = append(got, k)
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			failed := 0
			d := diagnosis.Diagnose(cl)
			status := map[diagnosis.CheckRef]diagnosis.Status{}
			for _, f := range d.Findings {
				status[diagnosis.CheckRef{Check: f.Name, Node: f.Node}] = f.Status
				if f.Status == diagnosis.Fail {
					failed++
				}
			}
			for _, ch := range d.Changes {
				for _, r := range ch.Resolves {
					if st, ok := status[r]; !ok || st == diagnosis.Pass {
						t.Errorf("%s %s resolves %v, which verify reports as %q", ch.Kind, ch.Node, r, st)
					}
				}
			}
			if (failed == 0) != (len(got) == 0) {
				t.Errorf("verify fails %d checks; plan lists %d changes", failed, len(got))
			}
		})
	}
}

// The details name what is wrong and how it gets fixed.
func TestDiffDetails(t *testing.T) {
	f := inSync()
	f.edit(func(r []live.Registration) []live.Registration {
		r[1].Name = "hq_citus_worker1_1"
		r[2].Name, r[2].Port = "localhost", 5602
		return append(r, live.Registration{ID: 4, Group: 3, Name: "old_worker", Port: 5432, Active: true, Role: "primary", ShouldHaveShards: true, HasMetadata: true, MetadataSynced: true})
	})
	f.worker(2).LocalGroup = 0 // no proof for citus_worker2
	f.shards = map[int32]int64{1: 1, 2: 0, 3: 3}
	cl := f.cluster()
	cl.Bytes[3] = 8_800_000
	cl.Match.Extra[1].Bytes = 8_800_000
	cl.Reshaped = true
	var got []string
	for _, ch := range diagnosis.PlanOf(cl).Changes {
		got = append(got, string(ch.Kind)+" "+ch.Node+": "+ch.Detail)
	}
	want := []string{
		"re-register citus_worker1: citus_worker1 is registered as hq_citus_worker1_1:5432 (its container name, nodeid 2, 1 shard): rename the registration to citus_worker1:5432 in place (citus_update_node; placements stay)",
		"register-worker citus_worker2: citus_worker2:5432",
		"drain-remove localhost:5602: localhost:5602 looks like citus_worker2 under a loopback name on its published port: remove it (it holds no shards) (bootstrap --prune); bootstrap registers citus_worker2 by its node name",
		"drain-remove old_worker:5432: registered but not in the topology: drain 3 shards (8.4 MiB) and remove it (bootstrap --prune)",
		"rebalance citus_master: once the workers above are registered, the rebalancer moves some of the 4 shards onto them (bootstrap --rebalance)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A condition is written once, in package diagnosis, and shows in both
// views of one reading: nodes on different PostgreSQL majors (each on the
// major its image names) fail verify's postgres-major, naming each node's
// major, and plan lists what a person must do, resolving that row.
func TestMajorsDifferInBoth(t *testing.T) {
	f := inSync()
	w := f.worker(2)
	w.ServerVersion, w.Endpoint.Node.Image, w.Endpoint.Node.Postgres = "17.6 (Debian 17.6-1.pgdg13+1)", "citusdata/citus:14.1-pg17", 17
	d := diagnosis.Diagnose(f.cluster())
	var rows []string
	for _, f := range d.Findings {
		if f.Status == diagnosis.Fail {
			rows = append(rows, fmt.Sprintf("%s %s %s: %s | %s", f.Name, f.Node, f.Status, f.Detail, f.Hint))
		}
	}
	const hint = "Citus needs every node of a cluster on the same PostgreSQL major: run every node from images (or packages) of one major, upgrading the data of the nodes on another first (citusgen upgrade; docs/images-and-upgrades.md)"
	want := []string{"postgres-major cluster fail: PostgreSQL majors differ: 17 on citus_worker2; 18 on citus_master, citus_worker1 | " + hint}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("verify's rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	p := diagnosis.PlanOf(f.cluster())
	if len(p.Changes) != 1 {
		t.Fatalf("changes: %+v", p.Changes)
	}
	ch := p.Changes[0]
	if ch.Kind != diagnosis.Manual || ch.Node != "cluster" || ch.Needs != diagnosis.ByHand || ch.Detail != "PostgreSQL majors differ (17 on citus_worker2; 18 on citus_master, citus_worker1): "+hint ||
		fmt.Sprint(ch.Resolves) != "[{postgres-major cluster}]" {
		t.Errorf("change: %+v", ch)
	}
	if p.Summary() != "1 change pending: it needs a person (the detail says what to do)" {
		t.Errorf("summary: %s", p.Summary())
	}
}
