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

// ManagerService is the name of the optional membership-manager service.
const ManagerService = "citus_manager"

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
	DependsOn   []string
}

type composeDoc struct {
	Source   string
	Services []composeService
}

func composeView(t *topology.Topology) composeDoc {
	dbVar := "${" + t.DatabaseVariable + ":-" + t.ClusterDatabase() + "}"
	env := []envVar{
		{"POSTGRES_DB", templates.YAMLScalar(dbVar)},
		{"POSTGRES_USER", templates.ComposeLiteral(t.User)},
	}
	switch {
	case t.PasswordEnv != "":
		ref := templates.YAMLScalar("${" + t.PasswordEnv + "}")
		// PGPASSWORD stays in the server's environment so the coordinator's
		// connections to workers authenticate (the citus image relies on it).
		env = append(env, envVar{"POSTGRES_PASSWORD", ref}, envVar{"PGPASSWORD", ref})
	case t.Password != "":
		lit := templates.ComposeLiteral(t.Password)
		env = append(env, envVar{"POSTGRES_PASSWORD", lit}, envVar{"PGPASSWORD", lit})
	default:
		// Current postgres images refuse to initialise without a password
		// unless told that trust is intended.
		env = append(env, envVar{"POSTGRES_HOST_AUTH_METHOD", "trust"})
	}
	health := []string{"CMD", "pg_isready", "-h", "127.0.0.1", "-p", strconv.Itoa(t.ContainerPort), "-U", t.User, "-d", dbVar}

	doc := composeDoc{Source: t.Source}
	node := func(n topology.Node, role string) composeService {
		return composeService{
			Name:        n.Service,
			Image:       n.Image,
			Ports:       []string{fmt.Sprintf("${%s:-%d}:%d", n.PortVariable, n.Port, t.ContainerPort)},
			Labels:      []string{"com.citusdata.role=" + role, ManagedLabel},
			Volume:      n.Service,
			Volumes:     []string{"${" + t.VolumePrefixVariable + "}" + n.Service + ":/var/lib/postgresql/data"},
			Environment: env,
			Healthcheck: health,
		}
	}
	coord := node(t.Coordinator, "Master")
	if !t.MembershipManager {
		// Workers must be up before the coordinator registers them
		// (citusgen bootstrap or the init script does that).
		for _, w := range t.Workers {
			coord.DependsOn = append(coord.DependsOn, w.Service)
		}
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
			DependsOn:   []string{t.Coordinator.Service},
		})
	}
	for _, w := range t.Workers {
		s := node(w, "Worker")
		if t.MembershipManager {
			s.DependsOn = []string{ManagerService}
		}
		doc.Services = append(doc.Services, s)
	}
	return doc
}

// Compose renders the compose document: one service per node, named volumes,
// healthchecks, and the coordinator depending on healthy workers.
func Compose(t *topology.Topology) ([]byte, error) {
	return execute("compose", composeView(t))
}
