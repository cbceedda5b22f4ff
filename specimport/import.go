package specimport

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/quote"
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
	passwords                                                 []passwordSource
	containerPort                                             int
	volumePrefix, volumeBlank                                 string
	workerPassword, manager                                   bool
	managerImage                                              string
	// publishAddress is where the file publishes the nodes' ports ("" for
	// every interface); publishGiven when any node publishes one.
	publishAddress string
	publishGiven   bool
}

type node struct {
	c       *composeNode
	alias   string
	aliasAt string // where the alias came from
	image   string
	portVar string
	// nodeName is the worker's CITUS_NODE_NAME where it is not the
	// service:container_port citusgen would derive (a cluster reached
	// outside the compose network), as written.
	nodeName string
}

// Import derives a topology spec from a compose file and, when given, the
// Django settings file.
func Import(ctx context.Context, in Files) (*Result, error) {
	cf, err := readCompose(in.ComposePath, in.Compose)
	if err != nil {
		return nil, err
	}
	coord, workers, err := roles(in.ComposePath, cf.nodes)
	if err != nil {
		return nil, err
	}
	warnings := cf.warnings
	warn := func(file string, line int, format string, args ...any) {
		warnings = append(warnings, Warning{file, line, fmt.Sprintf(format, args...)})
	}
	s := &spec{containerPort: topology.DefaultContainerPort, workerPassword: true}
	composeWarn := func(line int, format string, args ...any) { warn(in.ComposePath, line, format, args...) }
	s.addNodes(coord, workers, composeWarn)
	s.readEnv(coord, workers, composeWarn)
	s.composePasswords(in.ComposePath, append([]*composeNode{coord}, workers...))
	if cf.manager != nil {
		s.manager, s.managerImage = true, cf.manager.image
	}
	switch trust := s.password == "" && s.passwordEnv == ""; {
	case s.publishGiven && trust && !topology.IsLoopback(s.publishAddress):
		// A topology refuses that: anyone who reaches the host would be the
		// superuser, with no password at all.
		warn(in.ComposePath, coord.line, "the nodes trust every connection (no password) and the file publishes them on %s, so anyone who reaches this host is their superuser; the topology publishes them on %s instead: give the cluster a password (password_env) to publish them further", topology.PublishedWhere(s.publishAddress), topology.DefaultPublishAddress)
		s.publishAddress = topology.DefaultPublishAddress
	case s.publishGiven && s.publishAddress == "":
		warn(in.ComposePath, coord.line, "the nodes' ports are published on every interface (no address before the port), so anyone who reaches this host reaches the database superuser; the topology keeps that with publish_address: \"\": remove it to publish on 127.0.0.1 only")
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

	if err := s.passwordConflict(in); err != nil {
		return nil, err
	}
	out := s.render(in)
	if _, err := topology.Parse(filepath.Base(in.ComposePath)+" (imported)", out); err != nil {
		return nil, fmt.Errorf("the imported topology is not valid, so the files describe something citusgen cannot render:\n%v\n--- the imported topology ---\n%s", err, out)
	}
	return &Result{Spec: out, Warnings: sortedWarnings(warnings)}, nil
}

// warnFunc records a warning at a line of the file being read.
type warnFunc func(line int, format string, args ...any)

// roles finds the coordinator among the Citus services; the others are
// workers. A cluster has one coordinator and at least one worker.
func roles(path string, nodes []*composeNode) (coord *composeNode, workers []*composeNode, err error) {
	for _, n := range nodes {
		if n.role != "coordinator" {
			workers = append(workers, n)
			continue
		}
		if coord != nil {
			return nil, nil, fmt.Errorf("%s:%d: %s is a second coordinator (the first is %s); a Citus cluster has one: label the workers %s=%s", path, n.line, n.service, coord.service, citus.RoleLabel, citus.RoleWorker)
		}
		coord = n
	}
	if coord == nil {
		return nil, nil, fmt.Errorf("%s has no Citus coordinator: no service runs a citus image with the label %s=%s (or a name with master or coordinator)", path, citus.RoleLabel, citus.RoleMaster)
	}
	if len(workers) == 0 {
		return nil, nil, fmt.Errorf("%s has a coordinator (%s) but no Citus worker", path, coord.service)
	}
	return coord, workers, nil
}

// addNodes adds the nodes, coordinator first: the image most nodes run is
// the topology's (the others override it), and the coordinator's
// container port is the topology's.
func (s *spec) addNodes(coord *composeNode, workers []*composeNode, warn warnFunc) {
	all := append([]*composeNode{coord}, workers...)
	counts := map[string]int{}
	for _, n := range all {
		counts[n.image]++
	}
	for img, c := range counts {
		if c > counts[s.image] || c == counts[s.image] && img < s.image {
			s.image = img
		}
	}
	for _, n := range all {
		nd := &node{c: n}
		if n.image != s.image {
			nd.image = n.image
		}
		if n.portVar != "" && n.portVar != topology.PortVariable(n.service) {
			nd.portVar = n.portVar
		}
		if n.published != 0 {
			switch {
			case !s.publishGiven:
				s.publishAddress, s.publishGiven = n.hostIP, true
			case n.hostIP != s.publishAddress:
				warn(n.line, "%s publishes on %s, another node on %s; the topology publishes every node on one address (%s)", n.service, topology.PublishedWhere(n.hostIP), topology.PublishedWhere(s.publishAddress), topology.PublishedWhere(s.publishAddress))
			}
		}
		switch {
		case n.target == 0 || n.target == s.containerPort:
		case n == coord:
			s.containerPort = n.target
		default:
			warn(n.line, "%s publishes container port %d, the coordinator %d; the topology has one container port", n.service, n.target, s.containerPort)
		}
		s.nodes = append(s.nodes, nd)
	}
}

// readEnv takes the database, user and password from the coordinator's
// POSTGRES_* (which describe the cluster), whether workers get the
// password, and the data volumes' style; what else the nodes' environment
// sets is a warning.
func (s *spec) readEnv(coord *composeNode, workers []*composeNode, warn warnFunc) {
	s.readUser(coord, warn)
	s.readDatabase(coord, warn)
	if v, ok := coord.env["POSTGRES_PASSWORD"]; ok && v.raw != "" {
		if name, _, _, isRef := envRef(v.raw); isRef {
			s.passwordEnv = name
		} else if strings.Contains(v.raw, "$") {
			warn(v.line, "POSTGRES_PASSWORD %q mixes variables and text; imported as written", v.raw)
			s.password = strings.ReplaceAll(v.raw, "$$", "$")
		} else {
			s.password = v.raw
		}
	}
	for _, w := range workers {
		for _, k := range []string{"POSTGRES_USER", "POSTGRES_DB"} {
			if a, b := w.env[k], coord.env[k]; a.raw != b.raw {
				warn(a.line, "%s of %s (%q) differs from the coordinator's (%q); the topology gives every node the coordinator's", k, w.service, a.raw, b.raw)
			}
		}
		if _, ok := w.env["POSTGRES_PASSWORD"]; !ok && (s.password != "" || s.passwordEnv != "") {
			s.workerPassword = false
		}
	}
	for _, n := range append([]*composeNode{coord}, workers...) {
		for name, v := range n.env {
			switch name {
			case "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD", "PGPASSWORD":
			case "POSTGRES_HOST_AUTH_METHOD":
				if v.raw != "trust" || s.password != "" || s.passwordEnv != "" {
					warn(v.line, "POSTGRES_HOST_AUTH_METHOD=%s of %s is not imported; the topology uses passwords, or trust without one", v.raw, n.service)
				}
			default:
				warn(v.line, "environment %s of %s is not part of a topology; the region will not have it", name, n.service)
			}
		}
	}
	if coord.volume.ok {
		s.volumePrefix, s.volumeBlank = coord.volume.prefixVar, coord.volume.blankVar
		for _, w := range workers {
			if w.volume != coord.volume && w.volume.ok {
				warn(w.line, "the data volume of %s is written unlike the coordinator's; the topology writes them all alike", w.service)
			}
		}
	}
}

func (s *spec) readUser(coord *composeNode, warn warnFunc) {
	v, ok := coord.env["POSTGRES_USER"]
	if !ok {
		s.user = "postgres"
		warn(coord.line, "%s sets no POSTGRES_USER, so the image's postgres is the user; the topology writes it", coord.service)
		return
	}
	s.user = v.raw
	if name, def, hasDef, isRef := envRef(v.raw); isRef {
		s.user = def
		warn(v.line, "POSTGRES_USER comes from $%s; the topology writes the user itself (%q)", name, def)
		if !hasDef {
			s.user = ""
		}
	}
}

func (s *spec) readDatabase(coord *composeNode, warn warnFunc) {
	v, ok := coord.env["POSTGRES_DB"]
	if !ok {
		s.database, s.databaseVarGiven = s.user, true
		warn(coord.line, "%s sets no POSTGRES_DB, so the image names the database after the user (%s); the topology writes it", coord.service, s.user)
		return
	}
	s.databaseVarGiven = true
	if name, def, _, isRef := envRef(v.raw); isRef {
		s.databaseVar, s.database = name, def
	} else {
		s.database = v.raw
	}
}

// render writes the spec as commented YAML.
func (s *spec) render(in Files) []byte {
	var b strings.Builder
	s.writeHeader(&b, in)
	s.writeDjango(&b)
	s.writeNodes(&b, in)
	s.writeCompose(&b)
	return []byte(b.String())
}

// writeHeader writes what the spec came from and what to do with it, and
// the cluster's top-level keys.
func (s *spec) writeHeader(b *strings.Builder, in Files) {
	q := quote.YAMLScalar
	from := in.ComposePath
	if in.SettingsPath != "" {
		from += " and " + in.SettingsPath
	}
	fmt.Fprintf(b, "# Imported by citusgen from %s.\n", from)
	b.WriteString("# Review it, save it as citusgen.yaml, then replace the hand-written definitions:\n")
	fmt.Fprintf(b, "#   citusgen render --into %s --adopt\n", in.ComposePath)
	if in.SettingsPath != "" {
		fmt.Fprintf(b, "#   citusgen render settings --into %s --adopt\n", in.SettingsPath)
	}
	fmt.Fprintf(b, "image: %s\n", q(s.image))
	writeMajor(b, "", s.image)
	fmt.Fprintf(b, "database: %s\n", q(s.database))
	if s.databaseVarGiven {
		fmt.Fprintf(b, "database_variable: %s\n", q(s.databaseVar))
		if s.databaseVar == "" {
			b.WriteString("# (no variable: the compose file writes the database itself)\n")
		}
	}
	fmt.Fprintf(b, "user: %s\n", q(s.user))
	switch {
	case s.passwordEnv != "":
		fmt.Fprintf(b, "password_env: %s\n", s.passwordEnv)
	case s.password != "":
		fmt.Fprintf(b, "password: %s\n", q(s.password))
	default:
		b.WriteString("trust_authentication: true  # no POSTGRES_PASSWORD: the nodes trust every connection\n")
	}
}

// writeDjango writes how Django reaches the cluster, its reporting
// entries and its flags.
func (s *spec) writeDjango(b *strings.Builder) {
	q := quote.YAMLScalar
	b.WriteString("\ndjango:\n")
	fmt.Fprintf(b, "  reaches: %s\n", s.reaches)
	if s.reaches == "host" {
		fmt.Fprintf(b, "  host: %s\n", q(s.host))
	}
	if s.engine != "" {
		fmt.Fprintf(b, "  engine: %s\n", q(s.engine))
	}
	fmt.Fprintf(b, "  disable_server_side_cursors: %v\n", s.cursors)
	fmt.Fprintf(b, "  roles: %v\n", s.roles)
	if len(s.reporting) > 0 {
		b.WriteString("  reporting_databases:\n")
		for _, r := range s.reporting {
			fmt.Fprintf(b, "    %s: %s\n", q(r[0]), q(r[1]))
		}
	}
	if len(s.flags) > 0 {
		b.WriteString("  settings:\n")
		for _, f := range s.flags {
			fmt.Fprintf(b, "    %s: %s\n", q(f[0]), f[1])
		}
	}
}

// writeNodes writes the coordinator and the workers, each under a comment
// naming where the files define it.
func (s *spec) writeNodes(b *strings.Builder, in Files) {
	q := quote.YAMLScalar
	writeNode := func(n *node, indent string) {
		fmt.Fprintf(b, "%sservice: %s\n", indent, q(n.c.service))
		pad := strings.Repeat(" ", len(indent))
		if n.alias != "" {
			fmt.Fprintf(b, "%salias: %s\n", pad, q(n.alias))
		}
		if n.c.published != 0 {
			fmt.Fprintf(b, "%sport: %d\n", pad, n.c.published)
		}
		if n.portVar != "" {
			fmt.Fprintf(b, "%sport_variable: %s\n", pad, n.portVar)
		}
		if n.image != "" {
			fmt.Fprintf(b, "%simage: %s\n", pad, q(n.image))
			writeMajor(b, pad, n.image)
		}
		if n.nodeName != "" {
			fmt.Fprintf(b, "%snode_name: %s\n", pad, q(n.nodeName))
		}
	}
	src := func(n *node) string {
		at := fmt.Sprintf("%s:%d", filepath.Base(in.ComposePath), n.c.line)
		if n.aliasAt != "" {
			at += ", alias from " + n.aliasAt
		}
		return at
	}
	fmt.Fprintf(b, "\n# %s\ncoordinator:\n", src(s.nodes[0]))
	writeNode(s.nodes[0], "  ")
	b.WriteString("\nworkers:\n")
	for _, n := range s.nodes[1:] {
		fmt.Fprintf(b, "  # %s\n", src(n))
		writeNode(n, "  - ")
	}
}

// writeMajor writes, under an image citusgen cannot place on a PostgreSQL
// major, the postgres key the user has to fill in (render refuses until
// then): the major decides where the image keeps its data, and a guess
// would mount the volume where the server never looks.
func writeMajor(b *strings.Builder, pad, image string) {
	if _, ok := citus.ImagePostgres(image); ok {
		return
	}
	fmt.Fprintf(b, "%s# postgres: MAJOR  # which PostgreSQL major %s runs: citusgen cannot tell\n", pad, image)
	fmt.Fprintf(b, "%s#   from its tag, and render needs it (18 and later keep data elsewhere)\n", pad)
}

// writeCompose writes the compose keys that differ from the defaults.
func (s *spec) writeCompose(b *strings.Builder) {
	q := quote.YAMLScalar
	var compose []string
	if s.containerPort != topology.DefaultContainerPort {
		compose = append(compose, fmt.Sprintf("container_port: %d", s.containerPort))
	}
	if s.publishGiven && s.publishAddress != topology.DefaultPublishAddress {
		if s.publishAddress == "" {
			compose = append(compose,
				"# the file publishes the nodes on every interface; remove this line to",
				"# publish them on 127.0.0.1 only (citusgen's default)",
				`publish_address: ""`)
		} else {
			compose = append(compose, "publish_address: "+q(s.publishAddress))
		}
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
}
