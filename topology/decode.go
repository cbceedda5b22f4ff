package topology

import (
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/internal/yamldoc"
)

var topKeys = []string{"image", "database", "database_variable", "user", "password", "password_env", "trust_authentication", "profile", "django", "coordinator", "workers", "compose"}

func (d *decoder) topology(root *yaml.Node, t *Topology) {
	ok := d.mapping(root, "", topKeys, func(key string, v *yaml.Node, p string) {
		switch key {
		case "image":
			t.Image = d.str(v, p)
		case "database":
			t.Database = d.str(v, p)
		case "database_variable":
			t.DatabaseVariable = d.str(v, p)
		case "user":
			t.User = d.str(v, p)
		case "password":
			t.Password = d.str(v, p)
		case "password_env":
			t.PasswordEnv = d.str(v, p)
		case "trust_authentication":
			t.TrustAuthentication = d.boolean(v, p)
		case "profile":
			t.Profile = Profile(d.str(v, p))
		case "django":
			d.django(v, p, t)
		case "coordinator":
			t.Coordinator = d.node(v, p, Coordinator)
		case "workers":
			t.Workers = d.workers(v, p)
		case "compose":
			d.compose(v, p, t)
		}
	})
	if ok {
		d.require(root, "", "coordinator", "workers")
	}
}

var djangoKeys = []string{"reaches", "host", "engine", "disable_server_side_cursors", "roles", "reporting_databases", "settings"}

func (d *decoder) django(n *yaml.Node, path string, t *Topology) {
	d.mapping(n, path, djangoKeys, func(key string, v *yaml.Node, p string) {
		switch key {
		case "reaches":
			t.Reaches = Reach(d.str(v, p))
		case "host":
			t.Host = d.str(v, p)
		case "engine":
			t.Engine = d.str(v, p)
		case "disable_server_side_cursors":
			t.DisableServerSideCursors = d.boolean(v, p)
		case "roles":
			t.Roles = d.boolean(v, p)
		case "reporting_databases":
			d.orderedMap(v, p, func(name string, val *yaml.Node, vp string) {
				t.ReportingDatabases = append(t.ReportingDatabases, Reporting{Name: name, Alias: d.str(val, vp)})
			})
		case "settings":
			d.orderedMap(v, p, func(name string, val *yaml.Node, vp string) {
				t.Settings = append(t.Settings, Setting{Name: name, Value: d.settingValue(val, vp)})
			})
		}
	})
}

// yaml11Bool are the words YAML 1.1 (PyYAML, docker compose v1) reads as
// booleans and YAML 1.2 as strings, beyond true and false.
var yaml11Bool = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "n": true, "N": true, "no": true, "No": true, "NO": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
}

func (d *decoder) settingValue(n *yaml.Node, path string) any {
	n = yamldoc.Resolve(n)
	if n.Kind == yaml.ScalarNode {
		switch n.Tag {
		case "!!bool":
			return d.boolean(n, path)
		case "!!int":
			if v, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
				return v
			}
		case "!!str":
			if n.Style == 0 && yaml11Bool[n.Value] {
				d.errorf(n, path, "%s is a boolean in YAML 1.1 but the string %q here (Python would take it as true); write true or false, or quote it (%q) if you mean the string", n.Value, n.Value, n.Value)
				return nil
			}
			return n.Value
		}
	}
	d.errorf(n, path, "must be true, false, a whole number or a string, found %s", kindName(n))
	return nil
}

var nodeKeys = []string{"service", "alias", "port", "image", "port_variable", "node_name"}

func (d *decoder) node(n *yaml.Node, path string, role Role) Node {
	node := Node{Role: role, path: path}
	if d.mapping(n, path, nodeKeys, func(key string, v *yaml.Node, p string) {
		switch key {
		case "service":
			node.Service = d.str(v, p)
		case "alias":
			node.Alias = d.str(v, p)
		case "port":
			node.Port = d.integer(v, p)
		case "image":
			node.Image = d.str(v, p)
		case "port_variable":
			node.PortVariable = d.str(v, p)
		case "node_name":
			node.NodeNameOverride = d.str(v, p)
		}
	}) {
		d.pos[path] = posOf(yamldoc.Resolve(n))
		if role == Coordinator {
			d.require(n, path, "service", "alias")
		} else {
			d.require(n, path, "service")
		}
	}
	return node
}

var countKeys = []string{"count", "service_prefix", "alias_prefix", "first_port", "image"}

// MaxWorkers bounds the count form; far beyond any real cluster, it keeps a
// typo such as count: 80000 from rendering megabytes.
const MaxWorkers = 10000

// workers accepts an explicit list of nodes or the count form
// {count, service_prefix, alias_prefix, first_port}.
func (d *decoder) workers(n *yaml.Node, path string) []Node {
	n = yamldoc.Resolve(n)
	switch n.Kind {
	case yaml.SequenceNode:
		workers := make([]Node, 0, len(n.Content))
		for i, item := range n.Content {
			workers = append(workers, d.node(item, fmt.Sprintf("%s[%d]", path, i), Worker))
		}
		return workers
	case yaml.MappingNode:
		var count, first int
		var servicePrefix, aliasPrefix, image string
		if !d.mapping(n, path, countKeys, func(key string, v *yaml.Node, p string) {
			switch key {
			case "count":
				count = d.integer(v, p)
			case "service_prefix":
				servicePrefix = d.str(v, p)
			case "alias_prefix":
				aliasPrefix = d.str(v, p)
			case "first_port":
				first = d.integer(v, p)
			case "image":
				image = d.str(v, p)
			}
		}) {
			return nil
		}
		d.require(n, path, "count", "service_prefix", "alias_prefix", "first_port")
		if count < 1 || count > MaxWorkers {
			if _, given := d.pos[path+".count"]; given {
				d.errorAt(path+".count", "must be between 1 and %d, found %d", MaxWorkers, count)
			}
			return nil
		}
		workers := make([]Node, count)
		for i := range workers {
			workers[i] = Node{
				Role:    Worker,
				Service: servicePrefix + strconv.Itoa(i+1),
				Alias:   aliasPrefix + strconv.Itoa(i+1),
				Port:    first + i,
				Image:   image,
				path:    path,
			}
		}
		return workers
	}
	d.errorf(n, path, "must be a list of workers or a count form {count, service_prefix, alias_prefix, first_port}, found %s", kindName(n))
	return nil
}

var composeKeys = []string{"container_port", "setup", "membership_manager", "manager_image", "volume_prefix_variable", "volume_blank_variable", "worker_password"}

func (d *decoder) compose(n *yaml.Node, path string, t *Topology) {
	d.mapping(n, path, composeKeys, func(key string, v *yaml.Node, p string) {
		switch key {
		case "container_port":
			t.ContainerPort = d.integer(v, p)
		case "setup":
			t.Setup = d.boolean(v, p)
		case "membership_manager":
			t.MembershipManager = d.boolean(v, p)
		case "manager_image":
			t.ManagerImage = d.str(v, p)
		case "volume_prefix_variable":
			t.VolumePrefixVariable = d.str(v, p)
		case "volume_blank_variable":
			t.VolumeBlankVariable = d.str(v, p)
		case "worker_password":
			t.WorkerPassword = d.boolean(v, p)
		}
	})
}
