package topology_test

import (
	"reflect"
	"strings"
	"testing"

	_ "github.com/citusgen/citusgen/testsupport/goldenfile" // -update flag
	"github.com/citusgen/citusgen/topology"
)

func TestDefaultIsTheSeedSetup(t *testing.T) {
	top := topology.Default()
	if top.Source != topology.DefaultSource {
		t.Errorf("Source = %q", top.Source)
	}
	got := map[string]any{
		"image": top.Image, "database": top.ClusterDatabase(), "user": top.User, "password": top.Password,
		"profile": top.Profile, "reaches": top.Reaches, "host": top.Host, "engine": top.Engine,
		"cursors": top.DisableServerSideCursors, "containerPort": top.ContainerPort,
	}
	want := map[string]any{
		"image": "citusdata/citus:14.1", "database": "commcare_ucr_citus", "user": "commcarehq", "password": "commcarehq",
		"profile": topology.ProfileDev, "reaches": topology.ReachHost, "host": "localhost",
		"engine": "django.db.backends.postgresql", "cursors": true, "containerPort": 5432,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("default = %v\nwant %v", got, want)
	}
	type node struct {
		Service, Alias, NodeName, PortVar string
		Port                              int
	}
	var nodes []node
	for _, n := range top.Nodes() {
		nodes = append(nodes, node{n.Service, n.Alias, top.NodeName(n), n.PortVariable, n.Port})
	}
	wantNodes := []node{
		{"citus_master", "icds-ucr", "citus_master:5432", "CITUS_MASTER_EXTERNAL_PORT", 5600},
		{"citus_worker1", "citus-ucr-worker1", "citus_worker1:5432", "CITUS_WORKER1_EXTERNAL_PORT", 5601},
		{"citus_worker2", "citus-ucr-worker2", "citus_worker2:5432", "CITUS_WORKER2_EXTERNAL_PORT", 5602},
	}
	if !reflect.DeepEqual(nodes, wantNodes) {
		t.Errorf("nodes = %+v\nwant %+v", nodes, wantNodes)
	}
	if !reflect.DeepEqual(top.ReportingDatabases, []topology.Reporting{{Name: "icds-ucr-citus", Alias: "icds-ucr"}}) {
		t.Errorf("reporting = %+v", top.ReportingDatabases)
	}
	if !reflect.DeepEqual(top.Settings, []topology.Setting{{Name: "ICDS_USE_CITUS", Value: true}}) {
		t.Errorf("settings = %+v", top.Settings)
	}
}

const minimal = "coordinator: {service: c, alias: c, port: 6000}\n"

func TestCountForm(t *testing.T) {
	top, err := parseSpec([]byte(minimal + "workers: {count: 8, service_prefix: citus_worker, alias_prefix: citus-ucr-worker, first_port: 6001, image: 'my/citus:1'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Workers) != 8 {
		t.Fatalf("%d workers", len(top.Workers))
	}
	w := top.Workers[7]
	if w.Service != "citus_worker8" || w.Alias != "citus-ucr-worker8" || w.Port != 6008 || w.Image != "my/citus:1" || w.PortVariable != "CITUS_WORKER8_EXTERNAL_PORT" {
		t.Errorf("worker 8 = %+v", w)
	}
	if top.Coordinator.Image != topology.DefaultImage {
		t.Errorf("coordinator image = %q", top.Coordinator.Image)
	}
}

func TestCIProfileWorksOnTestDatabase(t *testing.T) {
	top, err := parseSpec([]byte(minimal + "profile: ci\nworkers: [{service: w, alias: w, port: 6001}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if top.ClusterDatabase() != "test_commcare_ucr_citus" || top.Database != "commcare_ucr_citus" || top.DatabaseVariable != "UCR_CITUS_DB" {
		t.Errorf("ci: cluster db %q, db %q, var %q", top.ClusterDatabase(), top.Database, top.DatabaseVariable)
	}
}

func TestPasswordFromEnvironment(t *testing.T) {
	top, err := parseSpec([]byte(minimal + "password_env: CITUS_PASSWORD\nworkers: [{service: w, alias: w, port: 6001}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if _, err := top.ResolvePassword(lookup); err == nil || !strings.Contains(err.Error(), "$CITUS_PASSWORD, which is not set") {
		t.Errorf("unset: %v", err)
	}
	env["CITUS_PASSWORD"] = "s3cret"
	if pw, err := top.ResolvePassword(lookup); err != nil || pw != "s3cret" {
		t.Errorf("set: %q %v", pw, err)
	}
}

// Every problem is reported at once, located and named, in file order.
func TestErrors(t *testing.T) {
	cases := []struct {
		name, spec string
		want       []string
	}{{
		name: "empty",
		spec: "",
		want: []string{"t.yaml: the topology is empty: it needs at least 'coordinator' and 'workers' (see 'citusgen init' for a starter)"},
	}, {
		name: "syntax",
		spec: "coordinator: [\n",
		want: []string{"t.yaml:1:1: invalid YAML: did not find expected node content"},
	}, {
		name: "missing sections",
		spec: "image: x/y:1\n",
		want: []string{
			"t.yaml:1:1: coordinator: is required but missing",
			"t.yaml:1:1: workers: is required but missing",
		},
	}, {
		name: "unknown keys with suggestion",
		spec: minimal + "wokers: []\nworkers: [{service: w, alias: w, port: 6001, prot: 1}]\n",
		want: []string{
			`t.yaml:2:1: wokers: unknown key (did you mean "workers"?); valid keys here: image, postgres, database, database_variable, user, password, password_env, trust_authentication, profile, django, coordinator, workers, compose`,
			`t.yaml:3:46: workers[0].prot: unknown key (did you mean "port"?); valid keys here: service, alias, port, image, postgres, port_variable, node_name`,
		},
	}, {
		name: "duplicate key",
		spec: minimal + "workers: [{service: w, alias: w, port: 6001}]\nuser: a\nuser: b\n",
		want: []string{"t.yaml:4:1: user: is given twice (first at line 3); keep one"},
	}, {
		name: "zero workers",
		spec: minimal + "workers: []\n",
		want: []string{"t.yaml:2:10: workers: a Citus cluster needs at least one worker; list them or use the count form"},
	}, {
		name: "zero workers in count form",
		spec: minimal + "workers: {count: 0, service_prefix: w, alias_prefix: w, first_port: 7000}\n",
		want: []string{"t.yaml:2:18: workers.count: must be between 1 and 10000, found 0"},
	}, {
		name: "coordinator listed as worker, duplicate and out-of-range ports",
		spec: minimal + "workers:\n  - {service: c, alias: w1, port: 6001}\n  - {service: w2, alias: w2, port: 6001}\n  - {service: w3, alias: w3, port: 0}\n  - {service: w4, alias: w4, port: 65536}\n",
		want: []string{
			`t.yaml:3:15: workers[0].service: "c" is the coordinator; a coordinator cannot also be listed as a worker`,
			`t.yaml:4:36: workers[1].port: published port 6001 is already used by worker c`,
			`t.yaml:5:36: workers[2].port: 0 is out of range; a TCP port is between 1 and 65535`,
			`t.yaml:6:36: workers[3].port: 65536 is out of range; a TCP port is between 1 and 65535`,
		},
	}, {
		name: "duplicate service and alias",
		spec: minimal + "workers:\n  - {service: w, alias: a, port: 6001}\n  - {service: w, alias: a, port: 6002}\n",
		want: []string{
			`t.yaml:4:15: workers[1].service: service "w" is already used by worker w`,
			`t.yaml:4:25: workers[1].alias: alias "a" is already used by worker w`,
		},
	}, {
		name: "invalid names",
		spec: "database: Commcare\nuser: 'a b'\ndatabase_variable: lower\ncoordinator: {service: 'Bad Name', alias: 'x!', port: 6000}\nworkers: [{service: w, alias: default, port: 6001}]\n",
		want: []string{
			`t.yaml:1:11: database: "Commcare" is not a valid database name (lower-case letters, digits and _, not starting with a digit)`,
			`t.yaml:2:7: user: "a b" is not a valid PostgreSQL user name (lower-case letters, digits and _, not starting with a digit)`,
			`t.yaml:3:20: database_variable: "lower" is not a valid environment variable name (A-Z, 0-9 and _)`,
			`t.yaml:4:24: coordinator.service: "Bad Name" is not a valid compose service name (lower-case letters, digits, _ and -)`,
			`t.yaml:4:43: coordinator.alias: "x!" is not a valid Django alias (letters, digits, _ and -)`,
			`t.yaml:5:31: workers[0].alias: 'default' is Django's main database; choose another alias`,
		},
	}, {
		name: "types and enums",
		spec: minimal + "profile: prod\ndjango: {reaches: sideways, disable_server_side_cursors: maybe, settings: {ICDS_USE_CITUS: [1]}}\nworkers: [{service: w, alias: w, port: abc}]\n",
		want: []string{
			`t.yaml:2:10: profile: "prod" is not a profile; use dev or ci`,
			`t.yaml:3:19: django.reaches: "sideways" is not valid; use host (Django on the host, published ports) or network (Django inside the compose network)`,
			`t.yaml:3:58: django.disable_server_side_cursors: must be true or false, found "maybe"`,
			`t.yaml:3:92: django.settings.ICDS_USE_CITUS: must be true, false, a whole number or a string, found a list`,
			`t.yaml:4:40: workers[0].port: must be a whole number, found "abc"`,
		},
	}, {
		name: "passwords",
		spec: minimal + "password: x\npassword_env: Y\nworkers: [{service: w, alias: w, port: 6001}]\n",
		want: []string{`t.yaml:3:15: password_env: give either password or password_env, not both`},
	}, {
		name: "reporting and settings references",
		spec: minimal + "django: {reporting_databases: {'r': nope}, settings: {lower: 1, DATABASES: 2}}\nworkers: [{service: w, alias: w, port: 6001}]\n",
		want: []string{
			`t.yaml:2:37: django.reporting_databases.r: "nope" is not an alias of this topology; use one of: c, w`,
			`t.yaml:2:55: django.settings.lower: "lower" is not a valid setting name (UPPER_CASE Python identifier)`,
			`t.yaml:2:65: django.settings.DATABASES: DATABASES is written by citusgen itself; remove it from settings`,
		},
	}, {
		name: "network reach keeps distinct node names",
		spec: minimal + "workers: [{service: w, alias: w, port: 6001, node_name: 'c:5432'}, {service: v, alias: v, port: 6002, node_name: 'nohost'}]\n",
		want: []string{
			`t.yaml:2:57: workers[0].node_name: node name c:5432 is already used by coordinator c (coordinator.service, line 1, column 24); Citus would see one node`,
			`t.yaml:2:114: workers[1].node_name: "nohost" is not host:port (a host name or IPv4 address, then a port between 1 and 65535)`,
		},
	}, {
		name: "setup service and membership manager",
		spec: minimal + "compose: {setup: true, membership_manager: true}\nworkers: [{service: w, alias: w, port: 6001}]\n",
		want: []string{
			`t.yaml:2:18: compose.setup: the setup service registers workers by service name and the membership manager by container name, so together they register each worker twice; set setup: false or membership_manager: false`,
		},
	}, {
		name: "a worker without a published port keeps no alias Django on the host would use",
		spec: minimal + "workers: [{service: w, alias: w}, {service: v}]\n",
		want: []string{`t.yaml:2:11: workers[0]: worker w publishes no port, so Django on the host cannot reach its alias w; give it a port, drop the alias, or set django.reaches: network`},
	}, {
		name: "a coordinator without a published port: its alias is required, so no hint to drop it",
		spec: "coordinator: {service: c, alias: c}\nworkers: [{service: w, alias: w, port: 6001}]\n",
		want: []string{`t.yaml:1:14: coordinator: coordinator c publishes no port, so Django on the host cannot reach its alias c; give it a port, or set django.reaches: network`},
	}, {
		name: "a second document",
		spec: minimal + "workers: [{service: w, alias: w, port: 6001}]\n---\nworkers: []\n",
		want: []string{"t.yaml:3:1: a second YAML document starts here; a topology is one document: remove the '---' and what follows, or move it to a file of its own"},
	}, {
		name: "setup service name taken",
		spec: minimal + "workers: [{service: citus_setup, alias: w, port: 6001}]\n",
		want: []string{`t.yaml:2:21: workers[0].service: citus_setup is the name of the setup service; rename this node or set compose.setup: false`},
	}, {
		name: "ci database too long",
		spec: minimal + "profile: ci\ndatabase: " + strings.Repeat("d", 60) + "\nworkers: [{service: w, alias: w, port: 6001}]\n",
		want: []string{`t.yaml:3:11: database: the ci profile works on "test_` + strings.Repeat("d", 60) + `", which is longer than 63 bytes; shorten the database name`},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseSpec([]byte(c.spec))
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// Image references are parsed as docker does: a registry with a port and a
// digest are fine; a bad one says why.
func TestImageReferences(t *testing.T) {
	for _, img := range []string{"registry.example.com:5000/citusdata/citus:12.1", "citusdata/citus@sha256:" + strings.Repeat("ab", 32), "localhost:5000/citus"} {
		if _, err := parseSpec([]byte(minimal + "image: " + img + "\nworkers: [{service: w, alias: w, port: 6001}]\n")); err != nil {
			t.Errorf("%s: %v", img, err)
		}
	}
	_, err := parseSpec([]byte(minimal + "image: Citus/Citus:13\nworkers: [{service: w, alias: w, port: 6001}]\n"))
	if err == nil || !strings.Contains(err.Error(), `t.yaml:2:8: image: "Citus/Citus:13" is not a valid image reference such as citusdata/citus:14.1: invalid reference format: repository name (Citus) must be lowercase`) {
		t.Errorf("bad image: %v", err)
	}
}

// CommCare HQ's own files: workers Django never connects to, without a
// published port; POSTGRES_DB without a variable.
func TestWorkersWithoutAliasOrPort(t *testing.T) {
	top, err := parseSpec([]byte(minimal + "database_variable: ''\ndjango: {reaches: network}\nworkers: [{service: w1}, {service: w2, alias: w2}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if top.Workers[0].Alias != "" || top.Workers[0].Port != 0 || top.Workers[1].Alias != "w2" {
		t.Errorf("workers %+v", top.Workers)
	}
	if top.DatabaseEnv() != "commcare_ucr_citus" {
		t.Errorf("POSTGRES_DB = %s", top.DatabaseEnv())
	}
	if !top.Roles || !top.WorkerPassword {
		t.Errorf("defaults: roles %v worker_password %v", top.Roles, top.WorkerPassword)
	}
}

func TestDefaultSpecIsCommented(t *testing.T) {
	spec := string(topology.DefaultSpec())
	for _, key := range []string{"profile:", "reaches:", "workers:", "# An explicit list, or the count form"} {
		if !strings.Contains(spec, key) {
			t.Errorf("default spec lacks %q", key)
		}
	}
}

// parseSpec parses a test spec as t.yaml; specs that say nothing about
// passwords get trust_authentication at the end (so no line moves).
func parseSpec(data []byte) (*topology.Topology, error) {
	if strings.Contains(string(data), "coordinator: {") && !strings.Contains(string(data), "password") && !strings.Contains(string(data), "trust") {
		data = append(data, "trust_authentication: true\n"...)
	}
	return topology.Parse("t.yaml", data)
}

// Nodes without passwords must be asked for, not the result of a forgotten key.
func TestTrustAuthenticationIsExplicit(t *testing.T) {
	spec := minimal + "workers: [{service: w, alias: w, port: 6001}]\n"
	_, err := topology.Parse("t.yaml", []byte(spec))
	if err == nil || err.Error() != "t.yaml:1:1: password: is missing: give password or password_env, or set trust_authentication: true to run the nodes without passwords (POSTGRES_HOST_AUTH_METHOD=trust)" {
		t.Errorf("no password: %v", err)
	}
	_, err = topology.Parse("t.yaml", []byte(spec+"password: x\ntrust_authentication: true\n"))
	if err == nil || err.Error() != "t.yaml:4:23: trust_authentication: goes with neither password nor password_env; remove one" {
		t.Errorf("both: %v", err)
	}
	top, err := topology.Parse("t.yaml", []byte(spec+"trust_authentication: true\n"))
	if err != nil || top.HasPassword() || !top.TrustAuthentication {
		t.Errorf("trust: %v", err)
	}
}
