package generator_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/composefile"
	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/testsupport/dockertest"
	"github.com/citusgen/citusgen/testsupport/goldenfile"
	"github.com/citusgen/citusgen/topology"
)

// Every rendered compose document loads through compose-go with validation
// on, with the ${...} variables unset and set, and means what docs/rendered.md says.
func TestComposeLoads(t *testing.T) {
	for _, c := range goldenfile.Cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			if c.Top.Containerless() {
				// Servers outside compose: nothing to render, and render says so.
				if _, err := generator.ComposeFor(c.Top, generator.ComposeFile); err == nil || !strings.Contains(err.Error(), "image: is none") {
					t.Fatalf("rendered compose for image: none: %v", err)
				}
				return
			}
			doc, err := generator.ComposeFor(c.Top, generator.ComposeFile)
			if err != nil {
				t.Fatal(err)
			}
			var top map[string]any
			if err := yaml.Unmarshal(doc, &top); err != nil {
				t.Fatal(err)
			}
			if _, ok := top["version"]; ok {
				t.Error("the document has the obsolete version: key")
			}
			t.Run("variables unset", func(t *testing.T) {
				p := load(t, doc, composefile.CheckEnv(c.Top, nil))
				checkProject(t, c.Top, p, nil)
				if c.Top.PasswordEnv != "" {
					// docker compose up stops, saying what to set.
					_, err := dockertest.Load(context.Background(), "hq-compose.yml", doc, nil)
					if err == nil || !strings.Contains(err.Error(), "set "+c.Top.PasswordEnv+" to the cluster password") {
						t.Errorf("without $%s: %v", c.Top.PasswordEnv, err)
					}
				}
			})
			t.Run("variables set", func(t *testing.T) {
				env := map[string]string{
					c.Top.VolumePrefixVariable: "/srv/citus/",
					"CITUS_DB":                 "unused",
					"CITUS_PASSWORD":           "from-env",
				}
				if c.Top.DatabaseVariable != "" {
					env[c.Top.DatabaseVariable] = "other_db"
				}
				for i, n := range c.Top.Nodes() {
					env[n.PortVariable] = strconv.Itoa(40000 + i)
				}
				p := load(t, doc, env)
				checkProject(t, c.Top, p, env)
			})
		})
	}
}

func load(t *testing.T, doc []byte, env map[string]string) *types.Project {
	t.Helper()
	p, err := dockertest.Load(context.Background(), "hq-compose.yml", doc, env)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func checkProject(t *testing.T, top *topology.Topology, p *types.Project, env map[string]string) {
	t.Helper()
	wantServices := len(top.Nodes())
	if top.MembershipManager {
		wantServices++
	}
	if top.Setup {
		wantServices++
		checkSetup(t, top, p, env)
	} else if _, ok := p.Services[citus.SetupService]; ok {
		t.Errorf("setup service emitted with compose.setup off")
	}
	if len(p.Services) != wantServices {
		t.Errorf("%d services, want %d", len(p.Services), wantServices)
	}
	password := top.Password
	if top.PasswordEnv != "" {
		password = composefile.CheckEnv(top, env)[top.PasswordEnv]
	}
	db := top.ClusterDatabase()
	if env != nil {
		if top.DatabaseVariable != "" {
			db = env[top.DatabaseVariable]
		}
	}
	for i, n := range top.Nodes() {
		s, ok := p.Services[n.Service]
		if !ok {
			t.Errorf("no service %s", n.Service)
			continue
		}
		if s.Image != n.Image {
			t.Errorf("%s: image %q, want %q", n.Service, s.Image, n.Image)
		}
		role := "Worker"
		if n.Role == topology.Coordinator {
			role = "Master"
		}
		if s.Labels["com.citusdata.role"] != role || s.Labels["io.citusgen.managed"] != "true" {
			t.Errorf("%s: labels %v", n.Service, s.Labels)
		}
		published := strconv.Itoa(n.Port)
		if env != nil {
			published = strconv.Itoa(40000 + i)
		}
		if n.Port == 0 {
			if len(s.Ports) != 0 {
				t.Errorf("%s: ports %+v, want none", n.Service, s.Ports)
			}
		} else if len(s.Ports) != 1 || s.Ports[0].Published != published || s.Ports[0].Target != uint32(top.ContainerPort) || s.Ports[0].HostIP != top.PublishAddress {
			t.Errorf("%s: ports %+v, want %s:%s:%d", n.Service, s.Ports, top.PublishAddress, published, top.ContainerPort)
		}
		if len(s.Volumes) != 1 {
			t.Fatalf("%s: volumes %+v", n.Service, s.Volumes)
		}
		v := s.Volumes[0]
		if env == nil {
			if v.Type != types.VolumeTypeVolume || v.Source != n.Service {
				t.Errorf("%s: volume %+v, want the named volume %s", n.Service, v, n.Service)
			}
			if _, ok := p.Volumes[n.Service]; !ok {
				t.Errorf("%s: named volume not declared", n.Service)
			}
		} else if v.Type != types.VolumeTypeBind || v.Source != "/srv/citus/"+n.Service {
			t.Errorf("%s: volume %+v, want a bind mount of /srv/citus/%s", n.Service, v, n.Service)
		}
		// Where the image keeps its data: PostgreSQL 18 images refuse to
		// start with anything mounted at /var/lib/postgresql/data.
		wantTarget := "/var/lib/postgresql/data"
		if n.Postgres >= 18 {
			wantTarget = "/var/lib/postgresql"
		}
		if n.Postgres == 0 || v.Target != wantTarget {
			t.Errorf("%s: PostgreSQL %d, volume target %q, want %q", n.Service, n.Postgres, v.Target, wantTarget)
		}
		envWant := map[string]string{"POSTGRES_DB": db, "POSTGRES_USER": top.User}
		if top.HasPassword() && n.Role == topology.Worker && !top.WorkerPassword {
			for _, k := range []string{"POSTGRES_PASSWORD", "PGPASSWORD", "POSTGRES_HOST_AUTH_METHOD"} {
				if v, ok := s.Environment[k]; ok {
					t.Errorf("%s: %s = %s with worker_password: false", n.Service, k, deref(v))
				}
			}
		} else if top.HasPassword() {
			envWant["POSTGRES_PASSWORD"] = password
			envWant["PGPASSWORD"] = password
		} else {
			envWant["POSTGRES_HOST_AUTH_METHOD"] = "trust"
		}
		for k, want := range envWant {
			if got := s.Environment[k]; got == nil || *got != want {
				t.Errorf("%s: %s = %v, want %q", n.Service, k, deref(got), want)
			}
		}
		if s.HealthCheck == nil {
			t.Errorf("%s: no healthcheck", n.Service)
		} else {
			want := []string{"CMD", "pg_isready", "-h", "127.0.0.1", "-p", strconv.Itoa(top.ContainerPort), "-U", top.User, "-d", db}
			if !slices.Equal(s.HealthCheck.Test, want) {
				t.Errorf("%s: healthcheck %q, want %q", n.Service, s.HealthCheck.Test, want)
			}
		}
	}
	coord := p.Services[top.Coordinator.Service]
	if top.MembershipManager {
		if len(coord.DependsOn) != 0 {
			t.Errorf("with the manager the coordinator must not wait for workers (cycle): %v", coord.DependsOn)
		}
		mgr := p.Services[citus.ManagerService]
		if mgr.DependsOn[top.Coordinator.Service].Condition != types.ServiceConditionHealthy {
			t.Errorf("manager depends_on %v", mgr.DependsOn)
		}
		for _, w := range top.Workers {
			if p.Services[w.Service].DependsOn[citus.ManagerService].Condition != types.ServiceConditionHealthy {
				t.Errorf("%s does not wait for the manager", w.Service)
			}
		}
		return
	}
	// Nodes start in parallel: only registration waits for them.
	for _, n := range top.Nodes() {
		if deps := p.Services[n.Service].DependsOn; len(deps) != 0 {
			t.Errorf("%s waits for %v; nodes start in parallel", n.Service, deps)
		}
	}
}

// checkSetup: the setup service runs the network-address bootstrap script
// with psql once every node is healthy, exactly once, with the password from
// where the spec keeps it.
func checkSetup(t *testing.T, top *topology.Topology, p *types.Project, env map[string]string) {
	t.Helper()
	s, ok := p.Services[citus.SetupService]
	if !ok {
		t.Fatalf("no %s service", citus.SetupService)
	}
	if s.Image != top.Coordinator.Image || s.Restart != "no" {
		t.Errorf("setup: image %q restart %q", s.Image, s.Restart)
	}
	// A tmpfs over the volume the image declares, so that no anonymous
	// volume outlives a down: PostgreSQL 18 images declare /var/lib/postgresql.
	wantTmpfs := "/var/lib/postgresql/data"
	if top.Coordinator.Postgres >= 18 {
		wantTmpfs = "/var/lib/postgresql"
	}
	if !slices.Equal(s.Tmpfs, []string{wantTmpfs}) {
		t.Errorf("setup: tmpfs %q, want %q", s.Tmpfs, wantTmpfs)
	}
	if len(s.DependsOn) != len(top.Nodes()) {
		t.Errorf("setup depends_on %v", s.DependsOn)
	}
	for _, n := range top.Nodes() {
		// restart: a recreated node (an emptied volume) is set up again.
		if d := s.DependsOn[n.Service]; d.Condition != types.ServiceConditionHealthy || !d.Restart {
			t.Errorf("setup does not wait for healthy %s, restarting with it: %+v", n.Service, d)
		}
	}
	// psql reaches the coordinator through libpq's variables, then the
	// service stays up; healthy once the script has run.
	if len(s.Command) != 3 || s.Command[0] != "sh" || s.Command[1] != "-c" ||
		!strings.Contains(s.Command[2], "psql -X -w -v ON_ERROR_STOP=1 -f "+generator.SetupScript+" || { echo \"citusgen: the bootstrap script failed (psql says why above); if a password was refused after the cluster's password changed, run citusgen password (citusgen help password), then docker compose up -d --wait again\" >&2; exit 1; }\ntouch "+generator.SetupReady+"\n") {
		t.Errorf("setup command %q", s.Command)
	}
	for k, want := range map[string]string{"PGHOST": top.Coordinator.Service, "PGPORT": strconv.Itoa(top.ContainerPort), "PGUSER": top.User, "PGDATABASE": "postgres"} {
		if got := s.Environment[k]; got == nil || *got != want {
			t.Errorf("setup: %s = %s, want %q", k, deref(got), want)
		}
	}
	if hc := s.HealthCheck; hc == nil || !slices.Equal(hc.Test, []string{"CMD", "test", "-f", generator.SetupReady}) {
		t.Errorf("setup healthcheck %+v", hc)
	}
	script, err := generator.SetupSQL(top)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(script)
	if got := s.Labels[generator.SetupDigestLabel]; got != hex.EncodeToString(sum[:]) {
		t.Errorf("setup: label %s = %q, want the script's SHA-256", generator.SetupDigestLabel, got)
	}
	if len(s.Configs) != 1 || s.Configs[0].Source != generator.SetupConfig || s.Configs[0].Target != generator.SetupScript {
		t.Errorf("setup configs %+v", s.Configs)
	}
	if got := p.Configs[generator.SetupConfig].Content; got != string(script) {
		t.Errorf("config content after interpolation differs from the setup script:\n%s", got)
	}
	password := top.Password
	if top.PasswordEnv != "" {
		password = composefile.CheckEnv(top, env)[top.PasswordEnv]
		if got := s.Environment[top.PasswordEnv]; got == nil || *got != password {
			t.Errorf("setup: %s = %s, want the same variable as the nodes", top.PasswordEnv, deref(got))
		}
	}
	if top.HasPassword() {
		if got := s.Environment["PGPASSWORD"]; got == nil || *got != password {
			t.Errorf("setup: PGPASSWORD = %s", deref(got))
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return fmt.Sprintf("%q", *s)
}

// FuzzComposeLoads: whatever valid topology a spec describes, the document
// the generator emits loads in compose-go with validation on, and holds a
// service per node. render does not load its output (that would cost a
// cold render several times over), so this and TestComposeLoads are the
// guarantee.
func FuzzComposeLoads(f *testing.F) {
	f.Add(uint8(2), "commcarehq", "citus_worker", "icds-ucr", false, false, false, false, uint8(0))
	f.Add(uint8(8), `p'w "x" \ $y`, "shard-", "reports", true, true, true, true, uint8(1))
	f.Add(uint8(1), "", "w", "a", true, false, true, false, uint8(2))
	f.Add(uint8(3), "$$x${Y}", "n_", "alias_1", false, true, false, true, uint8(3))
	f.Fuzz(func(t *testing.T, workers uint8, password, prefix, alias string, network, manager, blank, noWorkerPassword bool, variant uint8) {
		var spec strings.Builder
		switch variant % 3 {
		case 0:
			fmt.Fprintf(&spec, "password: %s\n", yamlString(password))
		case 1:
			spec.WriteString("password_env: CITUS_PW\n")
		default:
			spec.WriteString("trust_authentication: true\n")
		}
		if network {
			spec.WriteString("django: {reaches: network}\n")
		}
		fmt.Fprintf(&spec, "coordinator: {service: coord, alias: %s, port: 7000}\n", yamlString(alias))
		fmt.Fprintf(&spec, "workers: {count: %d, service_prefix: %s, alias_prefix: %s, first_port: 7001}\n", int(workers%12), yamlString(prefix), yamlString(alias+"-w"))
		fmt.Fprintf(&spec, "compose: {membership_manager: %v, worker_password: %v", manager, !noWorkerPassword)
		if blank {
			spec.WriteString(", volume_blank_variable: BLANK_IF_TESTS")
		}
		if variant%5 == 4 {
			spec.WriteString(", container_port: 6432")
		}
		spec.WriteString("}\n")
		top, err := topology.Parse("fuzz.yaml", []byte(spec.String()))
		if err != nil {
			t.Skip("not a valid topology")
		}
		doc, err := generator.ComposeFor(top, generator.ComposeFile)
		if err != nil {
			t.Fatal(err)
		}
		p, err := dockertest.Load(context.Background(), "hq-compose.yml", doc, composefile.CheckEnv(top, nil))
		if err != nil {
			t.Fatalf("%v\n--- spec ---\n%s--- document ---\n%s", err, spec.String(), doc)
		}
		for _, n := range top.Nodes() {
			if _, ok := p.Services[n.Service]; !ok {
				t.Errorf("no service %s", n.Service)
			}
		}
	})
}

func yamlString(s string) string {
	b, _ := json.Marshal(s) // a JSON string is a YAML double-quoted scalar
	return string(b)
}

// A one-letter service name: compose reads a short-syntax source of one
// letter (c:/var/lib/postgresql) as a Windows drive, an anonymous volume at
// the target "c:/...", which up refuses. Its data volume is written in the
// long syntax: the named volume, or with the blank variable set the
// anonymous one at the data directory; longer names keep the short syntax.
func TestOneLetterServiceVolume(t *testing.T) {
	for _, blank := range []bool{false, true} {
		spec := "password: pw\ncoordinator: {service: c, alias: c, port: 7000}\nworkers: [{service: w1, alias: w1, port: 7001}]\n"
		if blank {
			spec = "compose: {volume_blank_variable: BLANK_IF_TESTS}\n" + spec
		}
		top := goldenfile.Spec(t, spec)
		doc, err := generator.ComposeFor(top, generator.ComposeFile)
		if err != nil {
			t.Fatal(err)
		}
		envs := []map[string]string{nil}
		if blank {
			envs = append(envs, map[string]string{"BLANK_IF_TESTS": ""})
		}
		for _, env := range envs {
			p := load(t, doc, env)
			for _, n := range top.Nodes() {
				vols := p.Services[n.Service].Volumes
				want := types.ServiceVolumeConfig{Type: types.VolumeTypeVolume, Source: n.Service, Target: "/var/lib/postgresql", Volume: &types.ServiceVolumeVolume{}}
				if env != nil {
					want.Source = ""
				}
				if len(vols) != 1 || vols[0].Type != want.Type || vols[0].Source != want.Source || vols[0].Target != want.Target {
					t.Errorf("blank variable %v, env %v: %s mounts %+v, want %+v", blank, env, n.Service, vols, want)
				}
			}
		}
		if !strings.Contains(string(doc), "- type: volume\n") || !strings.Contains(string(doc), `"${VOLUME_PREFIX:-}`) {
			t.Errorf("document:\n%s", doc)
		}
	}
}
