package specimport

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/topology"
)

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
