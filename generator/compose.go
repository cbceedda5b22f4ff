package generator

import (
	"fmt"
	"strconv"

	"github.com/citusgen/citusgen/templates"
	"github.com/citusgen/citusgen/topology"
)

// ManagedLabel marks every service citusgen writes, so tools (and people)
// can tell generated services from hand-written ones.
const ManagedLabel = "io.citusgen.managed=true"

// Services citusgen adds beside the nodes.
const (
	ManagerService = topology.ManagerService
	SetupService   = topology.SetupService
)

// SetupConfig is the top-level config that carries the bootstrap script into
// the setup service, inline (content:), so no file has to sit beside the
// compose file; SetupScript is where the service reads it.
const (
	SetupConfig = "citus_setup_sql"
	SetupScript = "/run/citusgen/bootstrap.sql"
)

type envVar struct {
	Name  string
	Value string // already a YAML scalar
}

type composeService struct {
	Name        string
	Image       string
	Ports       []string
	Labels      []string
	Volume      string // named volume to declare at top level
	Volumes     []string
	Environment []envVar
	Healthcheck []string
	DependsOn   []dependency
	Command     []string
	Configs     []configMount
	Restart     string
}

type dependency struct{ Service, Condition string }

type configMount struct{ Source, Target string }

type composeConfig struct {
	Name    string
	Content string // already a YAML block or scalar
}

type composeDoc struct {
	Source   string
	Services []composeService
	Configs  []composeConfig
}

func healthy(services ...string) []dependency {
	deps := make([]dependency, len(services))
	for i, s := range services {
		deps[i] = dependency{s, "service_healthy"}
	}
	return deps
}

func composeView(t *topology.Topology) (composeDoc, error) {
	dbVar := t.DatabaseEnv()
	env := []envVar{
		{"POSTGRES_DB", templates.YAMLScalar(dbVar)},
		{"POSTGRES_USER", templates.ComposeLiteral(t.User)},
	}
	// password is how a service's environment gives the password.
	var password string
	switch {
	case t.PasswordEnv != "":
		// :? stops docker compose up with this message instead of
		// starting nodes with an empty password.
		password = templates.YAMLScalar("${" + t.PasswordEnv + ":?set " + t.PasswordEnv + " to the cluster password}")
	case t.Password != "":
		password = templates.ComposeLiteral(t.Password)
	}
	workerEnv := env
	switch {
	case password != "":
		// PGPASSWORD stays in the server's environment so the coordinator's
		// connections to workers authenticate (the citus image relies on it).
		env = append(env, envVar{"POSTGRES_PASSWORD", password}, envVar{"PGPASSWORD", password})
		if t.WorkerPassword {
			workerEnv = env
		}
	default:
		// Current postgres images refuse to initialise without a password
		// unless told that trust is intended.
		env = append(env, envVar{"POSTGRES_HOST_AUTH_METHOD", "trust"})
		workerEnv = env
	}
	health := []string{"CMD", "pg_isready", "-h", "127.0.0.1", "-p", strconv.Itoa(t.ContainerPort), "-U", t.User, "-d", dbVar}

	doc := composeDoc{Source: t.Source}
	node := func(n topology.Node, role string) composeService {
		s := composeService{
			Name:        n.Service,
			Image:       n.Image,
			Labels:      []string{"com.citusdata.role=" + role, ManagedLabel},
			Volume:      n.Service,
			Volumes:     []string{dataVolume(t, n.Service)},
			Environment: env,
			Healthcheck: health,
		}
		if n.Role == topology.Worker {
			s.Environment = workerEnv
		}
		if n.Port != 0 {
			s.Ports = []string{fmt.Sprintf("${%s:-%d}:%d", n.PortVariable, n.Port, t.ContainerPort)}
		}
		return s
	}
	coord := node(t.Coordinator, "Master")
	var workers []string
	for _, w := range t.Workers {
		workers = append(workers, w.Service)
	}
	if !t.MembershipManager {
		// Workers must be up before the coordinator registers them (the
		// setup service or citusgen bootstrap does that).
		coord.DependsOn = healthy(workers...)
	}
	doc.Services = append(doc.Services, coord)
	if t.MembershipManager {
		mgrEnv := []envVar{{"CITUS_HOST", templates.YAMLScalar(t.Coordinator.Service)}}
		mgrEnv = append(mgrEnv, env...)
		doc.Services = append(doc.Services, composeService{
			Name:        ManagerService,
			Image:       t.ManagerImage,
			Labels:      []string{ManagedLabel},
			Volumes:     []string{"${DOCKER_SOCK:-/var/run/docker.sock}:/var/run/docker.sock"},
			Environment: mgrEnv,
			DependsOn:   healthy(t.Coordinator.Service),
		})
	}
	for _, w := range t.Workers {
		s := node(w, "Worker")
		if t.MembershipManager {
			s.DependsOn = healthy(ManagerService)
		}
		doc.Services = append(doc.Services, s)
	}
	if t.Setup {
		script, err := SetupSQL(t)
		if err != nil {
			return composeDoc{}, err
		}
		doc.Services = append(doc.Services, setupService(t, password, append([]string{t.Coordinator.Service}, workers...)))
		doc.Configs = append(doc.Configs, composeConfig{Name: SetupConfig, Content: templates.ComposeBlock(string(script), 6)})
	}
	return doc, nil
}

// dataVolume mounts a node's data: a named volume, or a bind mount under
// ${VOLUME_PREFIX} when that is a path; with a blank variable, setting it
// (even empty) leaves only the target, an anonymous volume, as CommCare HQ's
// test runs did with ${VOLUME_PREFIX}${BLANK_IF_TESTS-<service>:}.
func dataVolume(t *topology.Topology, service string) string {
	const target = "/var/lib/postgresql/data"
	if t.VolumeBlankVariable != "" {
		return "${" + t.VolumePrefixVariable + ":-}${" + t.VolumeBlankVariable + "-" + service + ":}" + target
	}
	// :- keeps docker compose from warning that the variable is unset.
	return "${" + t.VolumePrefixVariable + ":-}" + service + ":" + target
}

// setupService runs the bootstrap script with the image's psql once every
// node is healthy, then exits; restart "no" keeps a finished run finished.
// The citus image's entrypoint executes any command other than postgres as
// it is, so psql runs directly.
func setupService(t *topology.Topology, password string, nodes []string) composeService {
	var env []envVar
	if password != "" {
		env = append(env, envVar{"PGPASSWORD", password})
	}
	if t.PasswordEnv != "" {
		// The script reads the inter-node password with \getenv.
		env = append(env, envVar{t.PasswordEnv, password})
	}
	env = append(env, envVar{"PGCONNECT_TIMEOUT", templates.YAMLScalar("10")})
	return composeService{
		Name:   SetupService,
		Image:  t.Coordinator.Image,
		Labels: []string{ManagedLabel},
		Command: []string{"psql", "-X", "-w", "-v", "ON_ERROR_STOP=1",
			"-h", t.Coordinator.Service, "-p", strconv.Itoa(t.ContainerPort), "-U", t.User, "-d", MaintenanceDatabase,
			"-f", SetupScript},
		Environment: env,
		Configs:     []configMount{{SetupConfig, SetupScript}},
		Restart:     "no",
		DependsOn:   healthy(nodes...),
	}
}

// Compose renders the compose document: one service per node, named volumes,
// healthchecks, the coordinator depending on healthy workers and, unless
// turned off, the setup service that registers the workers.
func Compose(t *topology.Topology) ([]byte, error) {
	doc, err := composeView(t)
	if err != nil {
		return nil, err
	}
	return execute("compose", doc)
}
