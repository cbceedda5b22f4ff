package specimport

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/topology"
)

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
	r := &settingsReader{path: path, s: s, byService: map[string]*node{}, byPort: map[string]*node{}, aliases: map[string]*node{}}
	for _, n := range s.nodes {
		r.byService[n.c.service] = n
		if n.c.published != 0 {
			r.byPort[strconv.Itoa(n.c.published)] = n
		}
	}
	var first *settingsfile.Entry // the first alias of the cluster
	for i, e := range f.Databases {
		if r.database(e) && first == nil {
			first = &f.Databases[i]
		}
	}
	if s.nodes[0].alias == "" {
		return nil, fmt.Errorf("%s has no DATABASES alias for the coordinator %s (by HOST %s, by CITUS_NODE_NAME, or by its published port); add one, or import without --settings", path, s.nodes[0].c.service, s.nodes[0].c.service)
	}
	if r.reachNetwork > 0 && r.reachHost > 0 {
		r.warn(0, "some aliases reach the nodes by service name and others by published port; the topology uses one way: %s", map[bool]string{true: "network", false: "host"}[r.reachNetwork >= r.reachHost])
	}
	if r.reachNetwork >= r.reachHost {
		s.reaches, s.host = "network", topology.DefaultHost
	} else {
		s.reaches = "host"
	}
	if first != nil {
		if eng, ok := literal(*first, "ENGINE"); ok {
			s.engine = eng
		}
		v, _ := literal(*first, "DISABLE_SERVER_SIDE_CURSORS")
		s.cursors = v == "true"
	}
	r.nodeNamesWarning()
	r.reporting(f.Reporting)
	r.flags(f.Assigns)
	return r.warnings, nil
}

// settingsReader matches a settings file's DATABASES entries with the
// compose file's nodes.
type settingsReader struct {
	path      string
	s         *spec
	byService map[string]*node // nodes by service name
	byPort    map[string]*node // nodes by published port
	aliases   map[string]*node // nodes by the alias they got
	// How many aliases reach their node inside the compose network, and
	// how many from the host.
	reachNetwork, reachHost int
	warnings                []Warning
}

func (r *settingsReader) warn(line int, format string, args ...any) {
	r.warnings = append(r.warnings, Warning{r.path, line, fmt.Sprintf(format, args...)})
}

// literal is an entry's field as the spec writes it, when the settings
// write it as a literal.
func literal(e settingsfile.Entry, key string) (string, bool) {
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

// database takes a DATABASES entry as a node's alias when it reaches one
// (by CITUS_NODE_NAME, by its service name as HOST, or by its published
// port on the host); it reports whether it did.
func (r *settingsReader) database(e settingsfile.Entry) bool {
	s := r.s
	host, _ := literal(e, "HOST")
	port, _ := literal(e, "PORT")
	nodeName, _ := literal(e, "CITUS_NODE_NAME")
	var n *node
	network := false
	switch {
	case nodeName != "" && r.byService[strings.Split(nodeName, ":")[0]] != nil:
		n = r.byService[strings.Split(nodeName, ":")[0]]
		network = host == n.c.service
	case r.byService[host] != nil:
		n, network = r.byService[host], true
	case r.byPort[port] != nil && (host == "localhost" || host == "127.0.0.1" || r.byService[host] == nil && host != "" && e.Key != "default"):
		n = r.byPort[port]
	default:
		return false
	}
	if n.alias != "" {
		r.warn(e.Lines.Start, "%s is a second alias of %s (the first is %s); only the first is imported", e.Key, n.c.service, n.alias)
		return false
	}
	if e.Nested {
		r.warn(e.Lines.Start, "%s is defined inside a block; imported, but --adopt will not remove it", e.Key)
	}
	n.alias, n.aliasAt = e.Key, fmt.Sprintf("%s:%d", filepath.Base(r.path), e.Lines.Start)
	r.aliases[e.Key] = n
	if network {
		r.reachNetwork++
		if port != strconv.Itoa(s.containerPort) {
			r.warn(e.Lines.Start, "%s reaches %s at port %s, not the container port %d", e.Key, host, port, s.containerPort)
		}
	} else {
		r.reachHost++
		s.host = host
	}
	if _, ok := e.Fields["ROLE"]; ok {
		s.roles = true
	}
	if name, ok := literal(e, "NAME"); ok && name != s.database {
		r.warn(e.Lines.Start, "%s NAME is %q but the compose file creates %q; the topology uses %q", e.Key, name, s.database, s.database)
	}
	r.nodeName(e, n)
	r.settingsPassword(e, n)
	if user, ok := literal(e, "USER"); ok && user != s.user {
		r.warn(e.Lines.Start, "%s USER is %q but the compose file's is %q", e.Key, user, s.user)
	}
	if pw, ok := e.Fields["PASSWORD"]; ok && pw.Env != "" && s.password == "" && s.passwordEnv == "" {
		s.passwordEnv = pw.Env
	}
	return true
}

// nodeName takes a worker's CITUS_NODE_NAME as its node_name when it is
// not the name citusgen derives: the coordinator registers the worker
// under it, so the spec must say it for a render to register the same.
func (r *settingsReader) nodeName(e settingsfile.Entry, n *node) {
	v, ok := e.Fields["CITUS_NODE_NAME"]
	if !ok || n.c.role != "worker" {
		return
	}
	derived := n.c.service + ":" + strconv.Itoa(r.s.containerPort)
	name, isStr := v.Value.(string)
	host, port, _ := strings.Cut(name, ":")
	switch {
	case !v.Literal || !isStr:
		r.warn(e.Lines.Start, "CITUS_NODE_NAME of %s is not a literal string; not imported (the topology derives %s)", e.Key, derived)
	case host == "" || port == "" || strings.Trim(port, "0123456789") != "":
		r.warn(e.Lines.Start, "CITUS_NODE_NAME of %s is %q, not host:port; not imported (the topology derives %s)", e.Key, name, derived)
	case name != derived:
		n.nodeName = name
	}
}

// nodeNamesWarning says that the files name how the coordinator reaches
// the workers but not how they reach it, where that matters: the workers
// are reached under other names than their services.
func (r *settingsReader) nodeNamesWarning() {
	coord := r.s.nodes[0]
	for _, n := range r.s.nodes[1:] {
		if n.nodeName != "" {
			r.warn(0, "some workers' CITUS_NODE_NAME is not their compose service and port (imported as node_name), but neither file says how the workers reach the coordinator: the topology derives %s:%d; set coordinator.node_name if they reach it under another name", coord.c.service, r.s.containerPort)
			return
		}
	}
}

// reporting takes the REPORTING_DATABASES entries that name the cluster,
// the last write winning.
func (r *settingsReader) reporting(entries []settingsfile.Entry) {
	for _, e := range entries {
		alias, ok := e.Value.Value.(string)
		if !e.Literal || !ok || r.aliases[alias] == nil {
			continue
		}
		r.s.reporting = setLast(r.s.reporting, e.Key, alias)
	}
}

// flags takes the module-level flags about Citus, such as ICDS_USE_CITUS.
func (r *settingsReader) flags(assigns []settingsfile.Assign) {
	for _, a := range assigns {
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
			r.warn(a.Stmt.Start, "%s is not a literal true/false, number or string at module level; not imported", a.Name)
			continue
		}
		r.s.flags = setLast(r.s.flags, a.Name, val)
	}
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

// passwordSource is one place the files give the cluster's password.
type passwordSource struct {
	at   string // file:line
	what string // the key and whose it is
	// how identifies the password without holding it in a message: "$NAME"
	// for a variable, "=" and the value for one written in the file.
	how string
}

// composePasswords notes the passwords the nodes' environments set.
func (s *spec) composePasswords(path string, nodes []*composeNode) {
	for _, n := range nodes {
		for _, key := range []string{"POSTGRES_PASSWORD", "PGPASSWORD"} {
			v, ok := n.env[key]
			if !ok || v.raw == "" {
				continue
			}
			how := "=" + strings.ReplaceAll(v.raw, "$$", "$")
			if name, _, _, isRef := envRef(v.raw); isRef {
				how = "$" + name
			}
			s.passwords = append(s.passwords, passwordSource{fmt.Sprintf("%s:%d", path, v.line), key + " of " + n.service, how})
		}
	}
}

// settingsPassword notes the PASSWORD of the alias e that reaches n.
func (r *settingsReader) settingsPassword(e settingsfile.Entry, n *node) {
	v, ok := e.Fields["PASSWORD"]
	if !ok {
		return
	}
	how := ""
	if v.Env != "" {
		how = "$" + v.Env
	} else if str, isStr := v.Value.(string); v.Literal && isStr {
		how = "=" + str
	}
	if how == "" || how == "=" && n.c.env["POSTGRES_PASSWORD"].raw == "" {
		return // an expression citusgen cannot read, or no password at all
	}
	r.s.passwords = append(r.s.passwords, passwordSource{fmt.Sprintf("%s:%d", r.path, e.Lines.Start), "PASSWORD of alias " + e.Key, how})
}

// passwordConflict refuses files that give the cluster different passwords,
// naming every place and never a value.
func (s *spec) passwordConflict(in Files) error {
	var order []string
	places := map[string][]string{}
	for _, p := range s.passwords {
		if _, ok := places[p.how]; !ok {
			order = append(order, p.how)
		}
		places[p.how] = append(places[p.how], fmt.Sprintf("%s (%s)", p.at, p.what))
	}
	if len(order) < 2 {
		return nil
	}
	var b strings.Builder
	files := in.ComposePath + " gives"
	if in.SettingsPath != "" {
		files = in.ComposePath + " and " + in.SettingsPath + " give"
	}
	fmt.Fprintf(&b, "%s the cluster different passwords (the values are not shown), and a topology has one for every node:", files)
	values := 0
	for _, how := range order {
		label := how
		switch {
		case how == "=":
			label = "empty"
		case strings.HasPrefix(how, "="):
			values++
			label = "value " + strconv.Itoa(values)
		}
		fmt.Fprintf(&b, "\n  %s: %s", label, strings.Join(places[how], ", "))
	}
	b.WriteString("\nmake them agree on the password the cluster runs with (a node's POSTGRES_PASSWORD takes effect only when its data directory is created), then import again: citusgen does not guess, because --adopt writes one password into every node and alias")
	return fmt.Errorf("%s", b.String())
}
