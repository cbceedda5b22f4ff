package specimport_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/specimport"
	"github.com/citusgen/citusgen/testsupport/goldenfile"
	"github.com/citusgen/citusgen/topology"
)

// Each project-shaped fixture, golden/import-<case>/input, imports to the
// spec beside it, which the generator's golden tests render like any other
// case.
func TestImportFixtures(t *testing.T) {
	dirs, _ := filepath.Glob("../golden/import-*/input")
	if len(dirs) == 0 {
		t.Fatal("no fixtures")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(filepath.Dir(dir)), func(t *testing.T) {
			compose, err := os.ReadFile(filepath.Join(dir, "hq-compose.yml"))
			if err != nil {
				t.Fatal(err)
			}
			settings, err := os.ReadFile(filepath.Join(dir, "localsettings.py"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := specimport.Import(context.Background(), specimport.Files{
				ComposePath: "hq-compose.yml", Compose: compose, SettingsPath: "localsettings.py", Settings: settings})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range res.Warnings {
				// CommCare HQ's files publish on every interface: the spec
				// keeps that, and the import says what it means.
				if !strings.Contains(w.Msg, "published on every interface") {
					t.Errorf("unexpected warning: %s", w)
				}
			}
			goldenfile.Check(t, filepath.Join(filepath.Dir(dir), "topology.yaml"), res.Spec)
		})
	}
}

const mixedCompose = `services:
  db_coordinator:
    image: registry.example.com:5000/mirror/citus:12.1
    ports: ["15432:5432"]
    environment:
      POSTGRES_USER: reporter
      POSTGRES_PASSWORD: ${REPORTS_PW:?set it}
      POSTGRES_DB: reports
      TZ: UTC
    volumes:
      - /srv/data/coord:/var/lib/postgresql/data
    networks: [back]
  db_worker_a:
    image: citusdata/citus:12.1
    ports: ["15501:5432", "15601:5433"]
    environment:
      POSTGRES_USER: reporter
      POSTGRES_PASSWORD: ${REPORTS_PW:?set it}
      POSTGRES_DB: reports
  migrate:
    image: citusdata/citus:12.1
    command: [psql, -c, "select 1"]
networks:
  back: {}
`

// What the spec cannot say is a warning naming the file and line; the rest
// is imported.
func TestImportWarnsWithLines(t *testing.T) {
	res, err := specimport.Import(context.Background(), specimport.Files{ComposePath: "c.yml", Compose: []byte(mixedCompose)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range res.Warnings {
		got = append(got, w.String())
	}
	want := []string{
		"c.yml: no --settings: the coordinator's Django alias is made up (db-coordinator) and workers get none; pass the settings file to take Django's",
		"c.yml:2: db_coordinator has no com.citusdata.role label; taken as the coordinator by its name",
		`c.yml:2: the nodes' ports are published on every interface (no address before the port), so anyone who reaches this host reaches the database superuser; the topology keeps that with publish_address: "": remove it to publish on 127.0.0.1 only`,
		`c.yml:4: port "15432:5432" of db_coordinator is a literal; the topology writes it as ${VAR:-15432} (the same while the variable is unset)`,
		"c.yml:9: environment TZ of db_coordinator is not part of a topology; the region will not have it",
		`c.yml:11: data volume "/srv/data/coord:/var/lib/postgresql/data" of db_coordinator is not ${VOLUME_PREFIX}db_coordinator or ${VOLUME_PREFIX}${VAR-db_coordinator:}; the topology writes its own`,
		"c.yml:12: db_coordinator.networks is not part of a topology; the region will not have it",
		"c.yml:13: db_worker_a has no com.citusdata.role label; taken as the worker by its name",
		`c.yml:15: port "15501:5432" of db_worker_a is a literal; the topology writes it as ${VAR:-15501} (the same while the variable is unset)`,
		"c.yml:15: db_worker_a publishes more than one port; only the first is imported",
		"c.yml:20: service migrate runs the citus image with its own command; not a node, left out",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, line := range []string{"password_env: REPORTS_PW", "database: reports", "database_variable: \"\"", "user: reporter", "  service: db_coordinator", "  port: 15432", "  image: \"registry.example.com:5000/mirror/citus:12.1\"",
		"  # postgres: MAJOR  # which PostgreSQL major registry.example.com:5000/mirror/citus:12.1 runs: citusgen cannot tell", "image: \"citusdata/citus:12.1\"", `  publish_address: ""`} {
		if !strings.Contains(string(res.Spec), line+"\n") {
			t.Errorf("spec lacks %q:\n%s", line, res.Spec)
		}
	}
}

func TestImportRefuses(t *testing.T) {
	for name, c := range map[string]struct{ compose, want string }{
		"no citus":         {"services:\n  web: {image: nginx}\n", "c.yml has no Citus coordinator"},
		"two coordinators": {"services:\n  a: {image: citusdata/citus, labels: [com.citusdata.role=Master]}\n  b: {image: citusdata/citus, labels: [com.citusdata.role=Master]}\n", "c.yml:3: b is a second coordinator (the first is a)"},
		"no worker":        {"services:\n  citus_master: {image: citusdata/citus}\n", "c.yml has a coordinator (citus_master) but no Citus worker"},
		"not yaml":         {"services: [\n", "c.yml: not valid YAML"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := specimport.Import(context.Background(), specimport.Files{ComposePath: "c.yml", Compose: []byte(c.compose)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// importRendered renders the compose file and the settings of spec and
// imports them.
func importRendered(t *testing.T, spec string) (*topology.Topology, []byte, *specimport.Result) {
	t.Helper()
	top, err := topology.Parse("spec.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	compose, err := generator.ComposeFor(top, generator.ComposeFile)
	if err != nil {
		t.Fatal(err)
	}
	settings, err := generator.SettingsFor(top, generator.SettingsFile)
	if err != nil {
		t.Fatal(err)
	}
	res, err := specimport.Import(context.Background(), specimport.Files{ComposePath: "hq-compose.yml", Compose: compose, SettingsPath: "localsettings.py", Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	return top, settings, res
}

// citusgen's own output imports without a warning (its ${VOLUME_PREFIX:-}
// is the convention it reads), to the same topology.
func TestImportOwnOutput(t *testing.T) {
	for _, spec := range []string{
		"password: x\ncoordinator: {service: citus_master, alias: icds-ucr, port: 5600}\nworkers: [{service: citus_worker1, alias: w1, port: 5601}]\n",
		"password: x\ncoordinator: {service: citus_master, alias: icds-ucr, port: 5600}\nworkers: [{service: citus_worker1, alias: w1, port: 5601}]\ncompose: {volume_blank_variable: BLANK_IF_TESTS}\n",
		// One-letter names: their data volumes are in the long syntax.
		"password: x\ncoordinator: {service: c, alias: icds-ucr, port: 5600}\nworkers: [{service: w, alias: w1, port: 5601}]\ncompose: {volume_prefix_variable: DATA_DIR}\n",
		"password: x\ncoordinator: {service: c, alias: icds-ucr, port: 5600}\nworkers: [{service: w, alias: w1, port: 5601}]\ncompose: {volume_blank_variable: BLANK_IF_TESTS}\n",
	} {
		top, _, res := importRendered(t, spec)
		for _, w := range res.Warnings {
			t.Errorf("warning: %s", w)
		}
		again, err := topology.Parse("imported.yaml", res.Spec)
		if err != nil {
			t.Fatal(err)
		}
		if again.VolumeBlankVariable != top.VolumeBlankVariable || again.VolumePrefixVariable != top.VolumePrefixVariable {
			t.Errorf("volumes imported as %q/%q", again.VolumePrefixVariable, again.VolumeBlankVariable)
		}
	}
}

// A membership manager is kept, with a word on the setup service that
// replaces it.
func TestImportManagerMentionsSetup(t *testing.T) {
	top, err := topology.Parse("spec.yaml", []byte("password: x\ncoordinator: {service: citus_master, alias: icds-ucr, port: 5600}\nworkers: [{service: citus_worker1, alias: w1, port: 5601}]\ncompose: {membership_manager: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	compose, _ := generator.ComposeFor(top, generator.ComposeFile)
	res, err := specimport.Import(context.Background(), specimport.Files{ComposePath: "hq-compose.yml", Compose: compose})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.Spec), "membership_manager: false (or\n  # removing these two lines) uses citusgen's setup service instead") {
		t.Errorf("spec:\n%s", res.Spec)
	}
}

// Workers reached under other names than their services (a cluster outside
// compose): import carries each CITUS_NODE_NAME into the spec as node_name,
// as written, so the settings render back exactly.
func TestImportKeepsNodeNames(t *testing.T) {
	spec := "password: x\ncoordinator: {service: citus_master, alias: icds-ucr, port: 5600}\nworkers:\n" +
		"  - {service: citus_worker1, alias: w1, port: 5601, node_name: '127.0.0.1:5701'}\n" +
		"  - {service: citus_worker2, alias: w2, port: 5602, node_name: 'citus_worker2:6432'}\n" +
		"  - {service: citus_worker3, alias: w3, port: 5603, node_name: 'DB3.example:05703'}\n" +
		"  - {service: citus_worker4, alias: w4, port: 5604}\n"
	_, settings, res := importRendered(t, spec)
	var warnings []string
	for _, w := range res.Warnings {
		warnings = append(warnings, w.String())
	}
	// The coordinator's node name is in neither file: said, not guessed.
	want := []string{"localsettings.py: some workers' CITUS_NODE_NAME is not their compose service and port (imported as node_name), but neither file says how the workers reach the coordinator: the topology derives citus_master:5432; set coordinator.node_name if they reach it under another name"}
	if strings.Join(warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}
	for _, line := range []string{"    node_name: \"127.0.0.1:5701\"\n", "    node_name: \"citus_worker2:6432\"\n", "    node_name: \"DB3.example:05703\"\n"} {
		if !strings.Contains(string(res.Spec), line) {
			t.Errorf("spec lacks %q:\n%s", line, res.Spec)
		}
	}
	again, err := topology.Parse("spec.yaml", res.Spec)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Spec)
	}
	if again.Workers[3].NodeNameOverride != "" {
		t.Errorf("worker 4 got node_name %q; its CITUS_NODE_NAME is what citusgen derives", again.Workers[3].NodeNameOverride)
	}
	rendered, err := generator.SettingsFor(again, generator.SettingsFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(rendered) != string(settings) {
		t.Errorf("import -> render settings differs:\n%s\nwant:\n%s", rendered, settings)
	}
}

const conflictCompose = `services:
  citus_master:
    image: citusdata/citus:13.2
    labels: [com.citusdata.role=Master]
    ports: ["${CITUS_MASTER_EXTERNAL_PORT:-5600}:5432"]
    environment:
      POSTGRES_USER: hq
      POSTGRES_PASSWORD: coordinator-secret
      POSTGRES_DB: hq
  citus_worker1:
    image: citusdata/citus:13.2
    labels: [com.citusdata.role=Worker]
    ports: ["${CITUS_WORKER1_EXTERNAL_PORT:-5601}:5432"]
    environment:
      POSTGRES_USER: hq
      POSTGRES_PASSWORD: worker-secret
      POSTGRES_DB: hq
  citus_worker2:
    image: citusdata/citus:13.2
    labels: [com.citusdata.role=Worker]
    ports: ["${CITUS_WORKER2_EXTERNAL_PORT:-5602}:5432"]
    environment:
      POSTGRES_USER: hq
      POSTGRES_PASSWORD: ${WORKER_PW:?}
      POSTGRES_DB: hq
`

const conflictSettings = `import os
DATABASES = {}
DATABASES.update({
    'hq': {'NAME': 'hq', 'USER': 'hq', 'PASSWORD': 'coordinator-secret', 'HOST': 'localhost', 'PORT': '5600'},
    'w1': {'NAME': 'hq', 'USER': 'hq', 'PASSWORD': '', 'HOST': 'localhost', 'PORT': '5601', 'CITUS_NODE_NAME': 'citus_worker1:5432'},
    'w2': {'NAME': 'hq', 'USER': 'hq', 'PASSWORD': 'settings-secret', 'HOST': 'localhost', 'PORT': '5602', 'CITUS_NODE_NAME': 'citus_worker2:5432'},
})
`

// Files that give the nodes different passwords are refused, every place
// named and no value shown: which one the cluster runs with no file says,
// and --adopt would write the one chosen everywhere.
func TestImportPasswordConflicts(t *testing.T) {
	_, err := specimport.Import(context.Background(), specimport.Files{ComposePath: "hq-compose.yml", Compose: []byte(conflictCompose), SettingsPath: "localsettings.py", Settings: []byte(conflictSettings)})
	if err == nil {
		t.Fatal("imported")
	}
	want := `hq-compose.yml and localsettings.py give the cluster different passwords (the values are not shown), and a topology has one for every node:
  value 1: hq-compose.yml:8 (POSTGRES_PASSWORD of citus_master), localsettings.py:4 (PASSWORD of alias hq)
  value 2: hq-compose.yml:16 (POSTGRES_PASSWORD of citus_worker1)
  $WORKER_PW: hq-compose.yml:24 (POSTGRES_PASSWORD of citus_worker2)
  empty: localsettings.py:5 (PASSWORD of alias w1)
  value 3: localsettings.py:6 (PASSWORD of alias w2)
make them agree on the password the cluster runs with (a node's POSTGRES_PASSWORD takes effect only when its data directory is created), then import again: citusgen does not guess, because --adopt writes one password into every node and alias`
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	for _, secret := range []string{"coordinator-secret", "worker-secret", "settings-secret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows the password %q", secret)
		}
	}

	// Agreeing files import; a worker without a password and its empty
	// PASSWORD are citusgen's worker_password: false, not a conflict.
	agree := strings.NewReplacer("worker-secret", "coordinator-secret", "${WORKER_PW:?}", "coordinator-secret").Replace(conflictCompose)
	settings := strings.Replace(strings.Replace(conflictSettings, "settings-secret", "coordinator-secret", 1), "'PASSWORD': '',", "'PASSWORD': 'coordinator-secret',", 1)
	if _, err := specimport.Import(context.Background(), specimport.Files{ComposePath: "hq-compose.yml", Compose: []byte(agree), SettingsPath: "localsettings.py", Settings: []byte(settings)}); err != nil {
		t.Errorf("agreeing files: %v", err)
	}
	noWorkerPassword := strings.NewReplacer("      POSTGRES_PASSWORD: worker-secret\n", "", "      POSTGRES_PASSWORD: ${WORKER_PW:?}\n", "").Replace(conflictCompose)
	settings = strings.Replace(conflictSettings, "'PASSWORD': 'settings-secret',", "'PASSWORD': '',", 1)
	res, err := specimport.Import(context.Background(), specimport.Files{ComposePath: "hq-compose.yml", Compose: []byte(noWorkerPassword), SettingsPath: "localsettings.py", Settings: []byte(settings)})
	if err != nil {
		t.Fatalf("workers without a password: %v", err)
	}
	if !strings.Contains(string(res.Spec), "worker_password: false") {
		t.Errorf("spec:\n%s", res.Spec)
	}
}

// A CITUS_NODE_NAME the spec cannot say is a warning, and the worker keeps
// the node name citusgen derives.
func TestImportNodeNamesItCannotTake(t *testing.T) {
	compose := strings.NewReplacer("worker-secret", "coordinator-secret", "${WORKER_PW:?}", "coordinator-secret").Replace(conflictCompose)
	settings := strings.NewReplacer("'PASSWORD': ''", "'PASSWORD': 'coordinator-secret'", "settings-secret", "coordinator-secret",
		"'citus_worker1:5432'", "'citus_worker1'", "'citus_worker2:5432'", "os.environ['W2']").Replace(conflictSettings)
	res, err := specimport.Import(context.Background(), specimport.Files{ComposePath: "hq-compose.yml", Compose: []byte(compose), SettingsPath: "localsettings.py", Settings: []byte(settings)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range res.Warnings {
		if strings.Contains(w.Msg, "CITUS_NODE_NAME") { // not what the fixture says of its ports
			got = append(got, w.String())
		}
	}
	want := []string{
		`localsettings.py:5: CITUS_NODE_NAME of w1 is "citus_worker1", not host:port; not imported (the topology derives citus_worker1:5432)`,
		`localsettings.py:6: CITUS_NODE_NAME of w2 is not a literal string; not imported (the topology derives citus_worker2:5432)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(string(res.Spec), "node_name") {
		t.Errorf("spec:\n%s", res.Spec)
	}
}

// Nodes that trust every connection are never published beyond loopback:
// the import says so instead of writing a spec the topology refuses.
func TestImportTrustStaysOnLoopback(t *testing.T) {
	compose := "services:\n  citus_master:\n    image: citusdata/citus:13.2\n    ports: [\"5600:5432\"]\n    labels: [com.citusdata.role=Master]\n    environment: {POSTGRES_HOST_AUTH_METHOD: trust}\n" +
		"  citus_worker1:\n    image: citusdata/citus:13.2\n    ports: [\"5601:5432\"]\n    labels: [com.citusdata.role=Worker]\n    environment: {POSTGRES_HOST_AUTH_METHOD: trust}\n"
	res, err := specimport.Import(context.Background(), specimport.Files{ComposePath: "c.yml", Compose: []byte(compose)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Spec), "publish_address") {
		t.Errorf("the spec publishes trust nodes beyond loopback:\n%s", res.Spec)
	}
	var warned bool
	for _, w := range res.Warnings {
		warned = warned || strings.Contains(w.String(), "c.yml:2: the nodes trust every connection (no password) and the file publishes them on every interface")
	}
	if !warned {
		t.Errorf("no warning about publishing: %v", res.Warnings)
	}
}

// A compose file whose POSTGRES_USER PostgreSQL reserves describes nodes
// that never start: import says so, naming the user key.
func TestImportReservedUser(t *testing.T) {
	compose := strings.ReplaceAll(mixedCompose, "POSTGRES_USER: reporter", "POSTGRES_USER: pg_reporter")
	_, err := specimport.Import(context.Background(), specimport.Files{ComposePath: "c.yml", Compose: []byte(compose)})
	want := `c.yml (imported):8:7: user: "pg_reporter" is a reserved role name (names starting with pg_ are PostgreSQL's own roles): the image's initdb fails on it, so no node would come up; choose another user name, such as commcarehq`
	if err == nil || !strings.Contains(err.Error(), "the imported topology is not valid") || !strings.Contains(err.Error(), "\n"+want+"\n") {
		t.Errorf("error %v, want one with %q", err, want)
	}
}
