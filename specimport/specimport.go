package specimport

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/topology"
)

// Result is an imported spec and what could not be mapped.
type Result struct {
	Spec     []byte
	Warnings []Warning
}

// Files are the inputs of an import; Settings may be empty.
type Files struct {
	ComposePath  string
	Compose      []byte
	SettingsPath string
	Settings     []byte
}

// spec is the topology being built, field by field.
type spec struct {
	image, database, databaseVar, user, password, passwordEnv string
	databaseVarGiven                                          bool
	reaches, host, engine                                     string
	cursors, roles                                            bool
	reporting                                                 [][2]string
	flags                                                     [][2]string // name, Python literal as YAML
	nodes                                                     []*node
	containerPort                                             int
	volumePrefix, volumeBlank                                 string
	workerPassword, manager                                   bool
	managerImage                                              string
}

type node struct {
	c       *composeNode
	alias   string
	aliasAt string // where the alias came from
	image   string
	portVar string
}

// Import derives a topology spec from a compose file and, when given, the
// Django settings file. The spec is checked by the topology decoder before
// it is returned, so what it prints renders.
func Import(ctx context.Context, in Files) (*Result, error) {
	cf, err := readCompose(in.ComposePath, in.Compose)
	if err != nil {
		return nil, err
	}
	warnings := cf.warnings
	warn := func(file string, line int, format string, args ...any) {
		warnings = append(warnings, Warning{file, line, fmt.Sprintf(format, args...)})
	}
	var coord *composeNode
	var workers []*composeNode
	for _, n := range cf.nodes {
		if n.role == "coordinator" {
			if coord != nil {
				return nil, fmt.Errorf("%s:%d: %s is a second coordinator (the first is %s); a Citus cluster has one: label the workers %s=%s", in.ComposePath, n.line, n.service, coord.service, citus.RoleLabel, citus.RoleWorker)
			}
			coord = n
		} else {
			workers = append(workers, n)
		}
	}
	if coord == nil {
		return nil, fmt.Errorf("%s has no Citus coordinator: no service runs a citus image with the label %s=%s (or a name with master or coordinator)", in.ComposePath, citus.RoleLabel, citus.RoleMaster)
	}
	if len(workers) == 0 {
		return nil, fmt.Errorf("%s has a coordinator (%s) but no Citus worker", in.ComposePath, coord.service)
	}

	s := &spec{containerPort: topology.DefaultContainerPort, workerPassword: true}
	// The image most nodes run is the topology's; the others override it.
	counts := map[string]int{}
	for _, n := range cf.nodes {
		counts[n.image]++
	}
	for img, c := range counts {
		if c > counts[s.image] || c == counts[s.image] && img < s.image {
			s.image = img
		}
	}
	all := append([]*composeNode{coord}, workers...)
	for _, n := range all {
		nd := &node{c: n}
		if n.image != s.image {
			nd.image = n.image
		}
		if n.portVar != "" && n.portVar != topology.PortVariable(n.service) {
			nd.portVar = n.portVar
		}
		if n.target != 0 {
			if n.target != s.containerPort && n == coord {
				s.containerPort = n.target
			} else if n.target != s.containerPort {
				warn(in.ComposePath, n.line, "%s publishes container port %d, the coordinator %d; the topology has one container port", n.service, n.target, s.containerPort)
			}
		}
		s.nodes = append(s.nodes, nd)
	}

	// POSTGRES_* of the coordinator describe the cluster.
	env := func(n *composeNode, name string) (envValue, bool) { v, ok := n.env[name]; return v, ok }
	if v, ok := env(coord, "POSTGRES_USER"); ok {
		s.user = v.raw
		if name, def, hasDef, isRef := envRef(v.raw); isRef {
			s.user = def
			warn(in.ComposePath, v.line, "POSTGRES_USER comes from $%s; the topology writes the user itself (%q)", name, def)
			if !hasDef {
				s.user = ""
			}
		}
	} else {
		s.user = "postgres"
		warn(in.ComposePath, coord.line, "%s sets no POSTGRES_USER, so the image's postgres is the user; the topology writes it", coord.service)
	}
	if v, ok := env(coord, "POSTGRES_DB"); ok {
		s.databaseVarGiven = true
		if name, def, _, isRef := envRef(v.raw); isRef {
			s.databaseVar, s.database = name, def
		} else {
			s.database = v.raw
		}
	} else {
		s.database, s.databaseVarGiven = s.user, true
		warn(in.ComposePath, coord.line, "%s sets no POSTGRES_DB, so the image names the database after the user (%s); the topology writes it", coord.service, s.user)
	}
	if v, ok := env(coord, "POSTGRES_PASSWORD"); ok && v.raw != "" {
		if name, _, _, isRef := envRef(v.raw); isRef {
			s.passwordEnv = name
		} else if strings.Contains(v.raw, "$") {
			warn(in.ComposePath, v.line, "POSTGRES_PASSWORD %q mixes variables and text; imported as written", v.raw)
			s.password = strings.ReplaceAll(v.raw, "$$", "$")
		} else {
			s.password = v.raw
		}
	}
	for _, w := range workers {
		for _, k := range []string{"POSTGRES_USER", "POSTGRES_DB"} {
			if a, b := w.env[k], coord.env[k]; a.raw != b.raw {
				warn(in.ComposePath, a.line, "%s of %s (%q) differs from the coordinator's (%q); the topology gives every node the coordinator's", k, w.service, a.raw, b.raw)
			}
		}
		if _, ok := w.env["POSTGRES_PASSWORD"]; !ok && (s.password != "" || s.passwordEnv != "") {
			s.workerPassword = false
		}
	}
	for _, n := range all {
		for name, v := range n.env {
			switch name {
			case "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD", "PGPASSWORD":
			case "POSTGRES_HOST_AUTH_METHOD":
				if v.raw != "trust" || s.password != "" || s.passwordEnv != "" {
					warn(in.ComposePath, v.line, "POSTGRES_HOST_AUTH_METHOD=%s of %s is not imported; the topology uses passwords, or trust without one", v.raw, n.service)
				}
			default:
				warn(in.ComposePath, v.line, "environment %s of %s is not part of a topology; the region will not have it", name, n.service)
			}
		}
	}
	if coord.volume.ok {
		s.volumePrefix, s.volumeBlank = coord.volume.prefixVar, coord.volume.blankVar
		for _, w := range workers {
			if w.volume != coord.volume && w.volume.ok {
				warn(in.ComposePath, w.line, "the data volume of %s is written unlike the coordinator's; the topology writes them all alike", w.service)
			}
		}
	}
	if cf.manager != nil {
		s.manager, s.managerImage = true, cf.manager.image
	}

	// Django's side.
	s.reaches, s.host = "host", topology.DefaultHost
	if coord.published == 0 {
		s.reaches = "network"
	}
	if len(in.Settings) > 0 {
		sw, err := readSettings(ctx, in.SettingsPath, in.Settings, s)
		if err != nil {
			return nil, err
		}
		warnings = append(warnings, sw...)
	} else {
		s.nodes[0].alias = strings.ReplaceAll(coord.service, "_", "-")
		s.cursors = true
		s.engine = topology.DefaultEngine
		warn(in.ComposePath, 0, "no --settings: the coordinator's Django alias is made up (%s) and workers get none; pass the settings file to take Django's", s.nodes[0].alias)
	}

	out := s.render(in)
	if _, err := topology.Parse(filepath.Base(in.ComposePath)+" (imported)", out); err != nil {
		return nil, fmt.Errorf("the imported topology is not valid, so the files describe something citusgen cannot render:\n%v\n--- the imported topology ---\n%s", err, out)
	}
	return &Result{Spec: out, Warnings: sortedWarnings(warnings)}, nil
}

// readSettings takes Django's aliases for the cluster's nodes, how it
// reaches them, the reporting entries that name them and the Citus flags.
func readSettings(ctx context.Context, path string, data []byte, s *spec) ([]Warning, error) {
	f, err := settingsfile.Analyze(ctx, path, data)
	if err != nil {
		return nil, err
	}
	if f.SyntaxError != "" {
		return nil, fmt.Errorf("%s does not compile (%s)", path, f.SyntaxError)
	}
	var ws []Warning
	warn := func(line int, format string, args ...any) {
		ws = append(ws, Warning{path, line, fmt.Sprintf(format, args...)})
	}
	byService := map[string]*node{}
	byPort := map[string]*node{}
	for _, n := range s.nodes {
		byService[n.c.service] = n
		if n.c.published != 0 {
			byPort[strconv.Itoa(n.c.published)] = n
		}
	}
	lit := func(e settingsfile.Entry, key string) (string, bool) {
		v, ok := e.Fields[key]
		if !ok || !v.Literal {
			return "", false
		}
		switch x := v.Value.(type) {
		case string:
			return x, true
		case float64:
			return strconv.Itoa(int(x)), true
		case bool:
			return strconv.FormatBool(x), true
		}
		return "", false
	}
	aliases := map[string]*node{}
	var reachNetwork, reachHost int
	var first *settingsfile.Entry
	for i := range f.Databases {
		e := f.Databases[i]
		host, _ := lit(e, "HOST")
		port, _ := lit(e, "PORT")
		nodeName, _ := lit(e, "CITUS_NODE_NAME")
		var n *node
		network := false
		switch {
		case nodeName != "" && byService[strings.Split(nodeName, ":")[0]] != nil:
			n = byService[strings.Split(nodeName, ":")[0]]
			network = host == n.c.service
		case byService[host] != nil:
			n, network = byService[host], true
		case byPort[port] != nil && (host == "localhost" || host == "127.0.0.1" || byService[host] == nil && host != "" && e.Key != "default"):
			n = byPort[port]
		default:
			continue
		}
		if n.alias != "" {
			warn(e.Lines.Start, "%s is a second alias of %s (the first is %s); only the first is imported", e.Key, n.c.service, n.alias)
			continue
		}
		if e.Nested {
			warn(e.Lines.Start, "%s is defined inside a block; imported, but --adopt will not remove it", e.Key)
		}
		n.alias, n.aliasAt = e.Key, fmt.Sprintf("%s:%d", filepath.Base(path), e.Lines.Start)
		aliases[e.Key] = n
		if network {
			reachNetwork++
			if port != strconv.Itoa(s.containerPort) {
				warn(e.Lines.Start, "%s reaches %s at port %s, not the container port %d", e.Key, host, port, s.containerPort)
			}
		} else {
			reachHost++
			s.host = host
		}
		if _, ok := e.Fields["ROLE"]; ok {
			s.roles = true
		}
		if first == nil {
			first = &f.Databases[i]
		}
		if name, ok := lit(e, "NAME"); ok && name != s.database {
			warn(e.Lines.Start, "%s NAME is %q but the compose file creates %q; the topology uses %q", e.Key, name, s.database, s.database)
		}
		if user, ok := lit(e, "USER"); ok && user != s.user {
			warn(e.Lines.Start, "%s USER is %q but the compose file's is %q", e.Key, user, s.user)
		}
		if pw, ok := e.Fields["PASSWORD"]; ok && pw.Env != "" && s.password == "" && s.passwordEnv == "" {
			s.passwordEnv = pw.Env
		}
	}
	if s.nodes[0].alias == "" {
		return nil, fmt.Errorf("%s has no DATABASES alias for the coordinator %s (by HOST %s, by CITUS_NODE_NAME, or by its published port); add one, or import without --settings", path, s.nodes[0].c.service, s.nodes[0].c.service)
	}
	if reachNetwork > 0 && reachHost > 0 {
		warn(0, "some aliases reach the nodes by service name and others by published port; the topology uses one way: %s", map[bool]string{true: "network", false: "host"}[reachNetwork >= reachHost])
	}
	if reachNetwork >= reachHost {
		s.reaches, s.host = "network", topology.DefaultHost
	} else {
		s.reaches = "host"
	}
	if first != nil {
		if eng, ok := lit(*first, "ENGINE"); ok {
			s.engine = eng
		}
		v, _ := lit(*first, "DISABLE_SERVER_SIDE_CURSORS")
		s.cursors = v == "true"
	}
	// REPORTING_DATABASES entries that name the cluster, last write wins.
	for _, e := range f.Reporting {
		alias, ok := e.Value.Value.(string)
		if !e.Literal || !ok || aliases[alias] == nil {
			continue
		}
		s.reporting = setLast(s.reporting, e.Key, alias)
	}
	// Module-level flags about Citus, such as ICDS_USE_CITUS.
	for _, a := range f.Assigns {
		if !strings.Contains(a.Name, "CITUS") || a.Name != strings.ToUpper(a.Name) {
			continue
		}
		var val string
		switch x := a.Value.Value.(type) {
		case bool:
			val = strconv.FormatBool(x)
		case float64:
			val = strconv.Itoa(int(x))
		case string:
			val = quote.YAMLScalar(x)
		}
		if !a.Literal || val == "" || a.Nested {
			warn(a.Stmt.Start, "%s is not a literal true/false, number or string at module level; not imported", a.Name)
			continue
		}
		s.flags = setLast(s.flags, a.Name, val)
	}
	return ws, nil
}

// setLast sets key to value in an ordered list of pairs, as a Python file
// does when it assigns twice: the last value, at the first place.
func setLast(list [][2]string, key, value string) [][2]string {
	for i := range list {
		if list[i][0] == key {
			list[i][1] = value
			return list
		}
	}
	return append(list, [2]string{key, value})
}

// render writes the spec as commented YAML.
func (s *spec) render(in Files) []byte {
	var b strings.Builder
	q := quote.YAMLScalar
	from := in.ComposePath
	if in.SettingsPath != "" {
		from += " and " + in.SettingsPath
	}
	fmt.Fprintf(&b, "# Imported by citusgen from %s.\n", from)
	b.WriteString("# Review it, save it as citusgen.yaml, then replace the hand-written definitions:\n")
	fmt.Fprintf(&b, "#   citusgen render --into %s --adopt\n", in.ComposePath)
	if in.SettingsPath != "" {
		fmt.Fprintf(&b, "#   citusgen render settings --into %s --adopt\n", in.SettingsPath)
	}
	fmt.Fprintf(&b, "image: %s\n", q(s.image))
	fmt.Fprintf(&b, "database: %s\n", q(s.database))
	if s.databaseVarGiven {
		fmt.Fprintf(&b, "database_variable: %s\n", q(s.databaseVar))
		if s.databaseVar == "" {
			b.WriteString("# (no variable: the compose file writes the database itself)\n")
		}
	}
	fmt.Fprintf(&b, "user: %s\n", q(s.user))
	switch {
	case s.passwordEnv != "":
		fmt.Fprintf(&b, "password_env: %s\n", s.passwordEnv)
	case s.password != "":
		fmt.Fprintf(&b, "password: %s\n", q(s.password))
	default:
		b.WriteString("trust_authentication: true  # no POSTGRES_PASSWORD: the nodes trust every connection\n")
	}
	b.WriteString("\ndjango:\n")
	fmt.Fprintf(&b, "  reaches: %s\n", s.reaches)
	if s.reaches == "host" {
		fmt.Fprintf(&b, "  host: %s\n", q(s.host))
	}
	if s.engine != "" {
		fmt.Fprintf(&b, "  engine: %s\n", q(s.engine))
	}
	fmt.Fprintf(&b, "  disable_server_side_cursors: %v\n", s.cursors)
	fmt.Fprintf(&b, "  roles: %v\n", s.roles)
	if len(s.reporting) > 0 {
		b.WriteString("  reporting_databases:\n")
		for _, r := range s.reporting {
			fmt.Fprintf(&b, "    %s: %s\n", q(r[0]), q(r[1]))
		}
	}
	if len(s.flags) > 0 {
		b.WriteString("  settings:\n")
		for _, f := range s.flags {
			fmt.Fprintf(&b, "    %s: %s\n", q(f[0]), f[1])
		}
	}
	writeNode := func(n *node, indent string) {
		fmt.Fprintf(&b, "%sservice: %s\n", indent, q(n.c.service))
		pad := strings.Repeat(" ", len(indent))
		if n.alias != "" {
			fmt.Fprintf(&b, "%salias: %s\n", pad, q(n.alias))
		}
		if n.c.published != 0 {
			fmt.Fprintf(&b, "%sport: %d\n", pad, n.c.published)
		}
		if n.portVar != "" {
			fmt.Fprintf(&b, "%sport_variable: %s\n", pad, n.portVar)
		}
		if n.image != "" {
			fmt.Fprintf(&b, "%simage: %s\n", pad, q(n.image))
		}
	}
	src := func(n *node) string {
		at := fmt.Sprintf("%s:%d", filepath.Base(in.ComposePath), n.c.line)
		if n.aliasAt != "" {
			at += ", alias from " + n.aliasAt
		}
		return at
	}
	fmt.Fprintf(&b, "\n# %s\ncoordinator:\n", src(s.nodes[0]))
	writeNode(s.nodes[0], "  ")
	b.WriteString("\nworkers:\n")
	for _, n := range s.nodes[1:] {
		fmt.Fprintf(&b, "  # %s\n", src(n))
		writeNode(n, "  - ")
	}
	var compose []string
	if s.containerPort != topology.DefaultContainerPort {
		compose = append(compose, fmt.Sprintf("container_port: %d", s.containerPort))
	}
	if s.volumePrefix != "" && s.volumePrefix != topology.DefaultVolumePrefix {
		compose = append(compose, "volume_prefix_variable: "+s.volumePrefix)
	}
	if s.volumeBlank != "" {
		compose = append(compose, "volume_blank_variable: "+s.volumeBlank)
	}
	if !s.workerPassword {
		compose = append(compose, "worker_password: false  # the workers set no POSTGRES_PASSWORD")
	}
	if s.manager {
		compose = append(compose,
			"# the old flow, kept as the files have it; membership_manager: false (or",
			"# removing these two lines) uses citusgen's setup service instead, which",
			"# registers workers by service name without the docker socket",
			"membership_manager: true", "manager_image: "+q(s.managerImage))
	}
	if len(compose) > 0 {
		b.WriteString("\ncompose:\n")
		for _, c := range compose {
			b.WriteString("  " + c + "\n")
		}
	}
	return []byte(b.String())
}
