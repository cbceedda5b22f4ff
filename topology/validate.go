package topology

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/distribution/reference"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/quote"
)

var (
	nonWord   = regexp.MustCompile(`[^A-Za-z0-9_]`)
	serviceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	aliasRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	pgNameRE  = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	envRE     = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	settingRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	// imageRE is the schema's rough shape of an image reference (editors);
	// validation parses references with distribution/reference.
	imageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:-]*(@sha256:[a-f0-9]{64})?$`)
	// hostnameRE is the schema's rough shape of a host name (editors);
	// validation checks every label with validHost.
	hostnameRE   = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$`)
	hostLabelRE  = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$`)
	numericRE    = regexp.MustCompile(`^([0-9]+|0[xX][0-9a-fA-F]*)$`)
	engineRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$`)
	pythonKWords = map[string]bool{"DATABASES": true, "REPORTING_DATABASES": true}
)

// IsEnvName reports whether s is an environment variable name as
// password_env (and every *_variable key) takes one.
func IsEnvName(s string) bool { return envRE.MatchString(s) }

const maxIdentifier = 63 // PostgreSQL's NAMEDATALEN-1, also a DNS label's limit

// validHost says what is wrong with a host name ("" when nothing is): a DNS
// name of at most 253 characters in labels of at most 63, letters, digits,
// '-' inside a label and '_' (compose service names have it, and Docker's
// resolver answers for them), or an IPv4 address.
func validHost(h string) string {
	switch {
	case h == "":
		return "is empty"
	case len(h) > 253:
		return fmt.Sprintf("is %d characters long; a host name has at most 253", len(h))
	}
	if ip := net.ParseIP(h); ip != nil && ip.To4() != nil {
		return ""
	}
	for _, l := range strings.Split(h, ".") {
		switch {
		case l == "":
			return "has an empty label (two dots, or a dot at an end)"
		case len(l) > maxIdentifier:
			return fmt.Sprintf("has a label of %d characters (%.20s...); a DNS label has at most 63", len(l), l)
		case !hostLabelRE.MatchString(l):
			return fmt.Sprintf("has the label %q; labels are letters, digits, '_' and '-' (not at either end)", l)
		}
	}
	if numericRE.MatchString(h) {
		return "is a number, which resolvers read as an IPv4 address"
	}
	return ""
}

// validator checks a decoded and defaulted spec, reporting every problem at
// the spec path it concerns (d.errorAt).
type validator struct {
	t *Topology
	d *decoder
	// Nodes whose service or port is already reported: the values derived
	// from them (port variable, node name, Django address) would only
	// repeat the same problem.
	reported map[string]bool
	// The first node to use each name, the reference for a duplicate.
	services, aliases, portVars map[string]string
	ports                       map[int]string
}

func validate(t *Topology, d *decoder) {
	v := &validator{t: t, d: d, reported: map[string]bool{},
		services: map[string]string{}, aliases: map[string]string{}, portVars: map[string]string{}, ports: map[int]string{}}
	v.names()
	v.password()
	v.django()
	for _, n := range t.Nodes() {
		if n.path != "" { // else not decoded; the missing key is reported already
			v.node(n)
		}
	}
	v.passwordVariable()
	if t.Setup && t.MembershipManager {
		d.errorAt("compose.setup", "the setup service registers workers by service name and the membership manager by container name, so together they register each worker twice; set setup: false or membership_manager: false")
	}
	v.images()
	v.publishing()
	v.reporting()
	v.settings()
	v.nodeNames()
	v.djangoSignatures()
}

// name checks a name against re and the identifier length limit; ok is
// false when it reported a problem.
func (v *validator) name(path, value string, re *regexp.Regexp, what string) bool {
	switch {
	case value == "":
		v.d.errorAt(path, "must not be empty")
	case len(value) > maxIdentifier:
		v.d.errorAt(path, "%q is %d bytes long; the limit is %d", value, len(value), maxIdentifier)
	case !re.MatchString(value):
		v.d.errorAt(path, "%q is not a valid %s", value, what)
	default:
		return true
	}
	return false
}

func (v *validator) text(path, value string) {
	if !utf8.ValidString(value) || strings.ContainsRune(value, 0) {
		v.d.errorAt(path, "must be valid UTF-8 text without NUL characters")
	}
}

func (v *validator) image(path, image string) {
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		v.d.errorAt(path, "%q is not a valid image reference such as citusdata/citus:14.1: %v", image, err)
	}
}

const envWhat = "environment variable name (A-Z, 0-9 and _)"

// names checks the database, the user, the compose variables and the images.
func (v *validator) names() {
	t, d := v.t, v.d
	v.name("database", t.Database, pgNameRE, "database name (lower-case letters, digits and _, not starting with a digit)")
	if t.Profile == ProfileCI && len(t.ClusterDatabase()) > maxIdentifier {
		d.errorAt("database", "the ci profile works on %q, which is longer than %d bytes; shorten the database name", t.ClusterDatabase(), maxIdentifier)
	}
	if v.name("user", t.User, pgNameRE, "PostgreSQL user name (lower-case letters, digits and _, not starting with a digit)") {
		v.reservedUser()
	}
	if t.DatabaseVariable != "" || !d.given("database_variable") {
		// Written empty: POSTGRES_DB is the database itself, no variable.
		v.name("database_variable", t.DatabaseVariable, envRE, envWhat)
	}
	if d.given("compose.volume_blank_variable") {
		v.name("compose.volume_blank_variable", t.VolumeBlankVariable, envRE, envWhat)
	}
	v.name("compose.volume_prefix_variable", t.VolumePrefixVariable, envRE, envWhat)
	if t.Image != NoImage {
		v.image("image", t.Image)
	}
	if d.given("compose.manager_image") {
		v.image("compose.manager_image", t.ManagerImage)
	}
}

// password checks password, password_env and trust_authentication.
func (v *validator) password() {
	t, d := v.t, v.d
	switch {
	case d.given("password") && d.given("password_env"):
		d.errorAt("password_env", "give either password or password_env, not both")
	case d.given("password"):
		v.text("password", t.Password)
		if t.Password == "" {
			d.errorAt("password", "must not be empty; leave the key out for trust authentication")
		}
	case d.given("password_env"):
		v.name("password_env", t.PasswordEnv, envRE, envWhat)
	case !t.TrustAuthentication && d.given("coordinator"):
		// Without a password every node trusts every connection: that has
		// to be meant, not forgotten.
		d.errorAt("password", "is missing: give password or password_env, or set trust_authentication: true to run the nodes without passwords (POSTGRES_HOST_AUTH_METHOD=trust)")
	}
	if t.TrustAuthentication && (d.given("password") || d.given("password_env")) {
		d.errorAt("trust_authentication", "goes with neither password nor password_env; remove one")
	}
}

// passwordVariable refuses a password_env that another key of the spec
// names too: compose would put the password wherever that variable goes
// (the database name, a published port, the data volumes), where every
// command line and listing shows it.
func (v *validator) passwordVariable() {
	t, d := v.t, v.d
	if t.PasswordEnv == "" || !d.given("password_env") || !envRE.MatchString(t.PasswordEnv) {
		return
	}
	var fields, reasons []string
	clash := func(variable, what, reason string) {
		if variable != t.PasswordEnv {
			return
		}
		fields = append(fields, what)
		if !slices.Contains(reasons, reason) {
			reasons = append(reasons, reason)
		}
	}
	clash(t.DatabaseVariable, v.written("database_variable", "its default, not written in the spec"),
		"the database would be named after the password, which every healthcheck's pg_isready -d shows")
	for _, n := range t.Nodes() {
		p := n.path + ".port_variable"
		if n.path == "" || n.Port == 0 && !d.given(p) {
			continue // no port published: the variable is written nowhere
		}
		what := v.written(p, "derived from "+v.where(field(n, "service")))
		if !strings.HasSuffix(n.path, "]") { // the count form
			what = fmt.Sprintf("the port variable of %s (derived from %s)", nodeRef(n), v.where(field(n, "service")))
		}
		clash(n.PortVariable, what, "the published port would be the password, which docker compose ps shows")
	}
	const volumes = "the data volumes would be named after the password, which docker volume ls shows"
	clash(t.VolumePrefixVariable, v.written("compose.volume_prefix_variable", "its default, not written in the spec"), volumes)
	clash(t.VolumeBlankVariable, v.written("compose.volume_blank_variable", ""), volumes)
	if len(fields) > 0 {
		d.errorAt("password_env", "%s is also %s: %s; use another variable for one of them", t.PasswordEnv, strings.Join(fields, " and "), strings.Join(reasons, "; "))
	}
}

// django checks the profile, how Django reaches the nodes, the container
// port and that there are workers.
func (v *validator) django() {
	t, d := v.t, v.d
	switch t.Profile {
	case ProfileDev, ProfileCI:
	default:
		d.errorAt("profile", "%q is not a profile; use dev or ci", t.Profile)
	}
	switch t.Reaches {
	case ReachHost, ReachNetwork:
	default:
		d.errorAt("django.reaches", "%q is not valid; use host (Django on the host, published ports) or network (Django inside the compose network)", t.Reaches)
	}
	if why := validHost(t.Host); why != "" {
		d.errorAt("django.host", "%s is not a valid host name or IPv4 address: it %s", short(t.Host), why)
	}
	if !engineRE.MatchString(t.Engine) {
		d.errorAt("django.engine", "%q is not a dotted Python module path", t.Engine)
	}
	if port := t.ContainerPort; port < 1 || port > 65535 {
		d.errorAt("compose.container_port", "%s", portOutOfRange(strconv.Itoa(port)))
	}
	if len(t.Workers) == 0 && d.given("workers") && !d.given("workers.count") {
		d.errorAt("workers", "a Citus cluster needs at least one worker; list them or use the count form")
	}
}

// field is the spec path of a node's key; for a worker of the count form,
// the key that generated the value.
func field(n Node, k string) string {
	if n.Role == Worker && !strings.HasSuffix(n.path, "]") {
		return n.path + "." + map[string]string{"service": "service_prefix", "alias": "alias_prefix", "port": "first_port", "image": "image", "postgres": "postgres", "port_variable": "count"}[k]
	}
	return n.path + "." + k
}

// node checks one node's names, port and image; names must be unique
// across all nodes.
func (v *validator) node(n Node) {
	v.service(n)
	v.alias(n)
	v.port(n)
	if n.Image != v.t.Image && n.Image != NoImage {
		v.image(field(n, "image"), n.Image)
	}
	if v.name(field(n, "port_variable"), n.PortVariable, envRE, envWhat) {
		if first, dup := claim(v.portVars, n.PortVariable, n); dup && !v.reported[n.path] {
			v.d.errorAt(field(n, "port_variable"), "port variable %s is already used by %s; set port_variable on one of them", quote.Key(n.PortVariable), first)
		}
	}
}

func (v *validator) service(n Node) {
	t, d, f := v.t, v.d, field(n, "service")
	if !v.name(f, n.Service, serviceRE, "compose service name (lower-case letters, digits, _ and -)") || numeric(d, f, n.Service) {
		return
	}
	if first, dup := claim(v.services, n.Service, n); dup {
		v.reported[n.path] = true
		if strings.HasPrefix(first, "coordinator") {
			d.errorAt(f, "%q is the coordinator; a coordinator cannot also be listed as a worker", n.Service)
		} else {
			d.errorAt(f, "service %q is already used by %s", n.Service, first)
		}
	}
	switch {
	case n.Service == citus.SetupService && t.Setup:
		d.errorAt(f, "%s is the name of the setup service; rename this node or set compose.setup: false", n.Service)
	case n.Service == citus.ManagerService && t.MembershipManager:
		d.errorAt(f, "%s is the name of the membership manager's service; rename this node", n.Service)
	}
}

func (v *validator) alias(n Node) {
	if n.Alias == "" && n.Role == Worker && !v.d.given(n.path+".alias") && strings.HasSuffix(n.path, "]") {
		return // a worker Django does not connect to
	}
	f := field(n, "alias")
	if !v.name(f, n.Alias, aliasRE, "Django alias (letters, digits, _ and -)") {
		return
	}
	if n.Alias == "default" {
		v.d.errorAt(f, "'default' is Django's main database; choose another alias")
	} else if first, dup := claim(v.aliases, n.Alias, n); dup {
		v.d.errorAt(f, "alias %q is already used by %s", n.Alias, first)
	}
}

func (v *validator) port(n Node) {
	t, d, p := v.t, v.d, n.path
	switch {
	case n.Port == 0 && !d.given(p+".port") && strings.HasSuffix(p, "]") || n.Port == 0 && n.Role == Coordinator && !d.given(p+".port"):
		// Published nowhere: reachable inside the compose network only.
		if n.Alias != "" && t.Reaches == ReachHost {
			v.reported[p] = true
			if n.Role == Coordinator {
				// Its alias is required: only the other two ways out.
				d.errorAt(p, "%s publishes no port, so Django on the host cannot reach its alias %s; give it a port, or set django.reaches: network", nodeRef(n), quote.Key(n.Alias))
			} else {
				d.errorAt(p, "%s publishes no port, so Django on the host cannot reach its alias %s; give it a port, drop the alias, or set django.reaches: network", nodeRef(n), quote.Key(n.Alias))
			}
		}
	case n.Port < 1 || n.Port > 65535:
		v.reported[p] = true
		d.errorAt(field(n, "port"), "%s", portOutOfRange(strconv.Itoa(n.Port)))
	default:
		if first, dup := claim(v.ports, n.Port, n); dup {
			v.reported[p] = true
			d.errorAt(field(n, "port"), "published port %d is already used by %s", n.Port, first)
		}
	}
}

// reporting checks that each REPORTING_DATABASES entry names an alias.
func (v *validator) reporting() {
	t, d := v.t, v.d
	for _, r := range t.ReportingDatabases {
		p := "django.reporting_databases." + r.Name
		if keyPos, ok := d.pos[p+"#key"]; ok && !aliasRE.MatchString(r.Name) {
			d.errs = append(d.errs, &FieldError{File: d.file, Pos: keyPos, Field: p, Msg: fmt.Sprintf("%q is not a valid reporting database name (letters, digits, _ and -)", r.Name)})
		}
		if _, ok := v.aliases[r.Alias]; !ok {
			d.errorAt(p, "%q is not an alias of this topology; use one of: %s", r.Alias, strings.Join(aliasList(t, v.aliases), ", "))
		}
	}
}

// settings checks the names and texts of the extra Django settings.
func (v *validator) settings() {
	d := v.d
	for _, s := range v.t.Settings {
		p := "django.settings." + s.Name
		if !settingRE.MatchString(s.Name) || pythonKWords[s.Name] {
			msg := fmt.Sprintf("%q is not a valid setting name (UPPER_CASE Python identifier)", s.Name)
			if pythonKWords[s.Name] {
				msg = s.Name + " is written by citusgen itself; remove it from settings"
			}
			d.errs = append(d.errs, &FieldError{File: d.file, Pos: d.pos[p+"#key"], Field: p, Msg: msg})
		}
		if str, ok := s.Value.(string); ok {
			v.text(p, str)
		}
	}
}

// nodeNames checks node_name overrides and that no two nodes share a node
// name, which Citus would take for one node.
func (v *validator) nodeNames() {
	t, d := v.t, v.d
	type firstUse struct{ name, ref, field string }
	nodeNames := map[string]firstUse{}
	for _, n := range t.Nodes() {
		if n.path == "" || v.reported[n.path] {
			continue
		}
		name := t.NodeName(n)
		// The field the name comes from: node_name, or the service it is
		// derived from.
		f := field(n, "service")
		if n.NodeNameOverride != "" {
			f = n.path + ".node_name"
			i := strings.LastIndexByte(name, ':')
			digits := name[i+1:]
			pn, err := strconv.Atoi(digits)
			switch {
			case i >= 0 && digits != "" && strings.Trim(digits, "0123456789") == "" && (err != nil || pn < 1 || pn > 65535):
				// A whole number, only not a port (too large for an int too).
				d.errorAt(f, "%s is not host:port: its port %s", short(name), portOutOfRange(shortNumber(digits)))
				continue
			case i < 0 || err != nil || pn < 1 || pn > 65535:
				d.errorAt(f, "%s is not host:port (a host name or IPv4 address, then a port between 1 and 65535)", short(name))
				continue
			}
			if why := validHost(name[:i]); why != "" {
				d.errorAt(f, "%s is not host:port: the host %s", short(name), why)
				continue
			}
		}
		host, port := t.NodeAddress(n)
		key := strings.ToLower(host) + ":" + strconv.Itoa(port)
		first, dup := nodeNames[key]
		switch {
		case !dup:
			nodeNames[key] = firstUse{name, nodeRef(n), f}
		case first.name == name:
			d.errorAt(f, "node name %s is already used by %s (%s); Citus would see one node", name, first.ref, v.where(first.field))
		default:
			d.errorAt(f, "node name %q is %q of %s (%s) spelled another way (host names ignore case, a port is a number); Citus would register one server twice and bootstrap would never converge: give each node its own host:port", name, first.name, first.ref, v.where(first.field))
		}
	}
}

// where names a spec path and the position it was written at, for a
// message about another place.
func (v *validator) where(path string) string {
	if pos, ok := v.d.pos[path]; ok {
		return fmt.Sprintf("%s, line %d, column %d", path, pos.Line, pos.Column)
	}
	return path
}

// written names a spec path with the position it was written at, or
// with why it has its value when the spec leaves it out.
func (v *validator) written(path, otherwise string) string {
	if pos, ok := v.d.pos[path]; ok {
		return fmt.Sprintf("%s (line %d, column %d)", path, pos.Line, pos.Column)
	}
	return fmt.Sprintf("%s (%s)", path, otherwise)
}

// djangoSignatures: Django raises ImproperlyConfigured when two aliases
// share a test signature (HOST, PORT, ENGINE, NAME); never emit that.
func (v *validator) djangoSignatures() {
	t := v.t
	signatures := map[string]string{}
	for _, n := range t.Nodes() {
		if n.path == "" || v.reported[n.path] || n.Alias == "" {
			continue
		}
		host, port := t.Address(n, t.Reaches)
		sig := host + "\x00" + strconv.Itoa(port)
		if first, dup := claim(signatures, sig, n); dup {
			v.d.errorAt(n.path, "Django would reach %s and %s at the same %s:%d; give them distinct ports or hosts", first, nodeRef(n), host, port)
		}
	}
}

// short quotes a value for a message, its first 80 bytes when it is long.
func short(s string) string {
	if len(s) > 80 {
		return strconv.Quote(s[:80]) + "..."
	}
	return strconv.Quote(s)
}

// numeric refuses a service name that is a number: it is also the node's
// host name, and resolvers (libpq's, Citus's) read 13, 007 or 0x10 as the
// IPv4 address 0.0.0.13, never asking DNS.
func numeric(d *decoder, path, service string) bool {
	if numericRE.MatchString(service) {
		d.errorAt(path, "%q is a number; the service name is also the node's host name, and resolvers read a number as an IPv4 address (0.0.0.x): give it a name with a letter, such as citus_worker%s", service, strings.TrimLeft(service, "0xX"))
		return true
	}
	return false
}

// claim records n as the first node to use key, or returns the one that
// used it first.
func claim[K comparable](seen map[K]string, key K, n Node) (first string, dup bool) {
	if first, dup = seen[key]; !dup {
		seen[key] = nodeRef(n)
	}
	return first, dup
}

func nodeRef(n Node) string {
	if n.Role == Coordinator {
		return "coordinator " + quote.Key(n.Service)
	}
	return "worker " + quote.Key(n.Service)
}

// aliasList names the valid aliases in spec order, each once.
func aliasList(t *Topology, valid map[string]string) []string {
	var out []string
	for _, n := range t.Nodes() {
		if _, ok := valid[n.Alias]; ok && !slices.Contains(out, n.Alias) {
			out = append(out, n.Alias)
		}
	}
	return out
}

// hostReaches refuses a django.host that cannot reach the address the ports
// are published on: docker binds that one address, so a connection to any
// other (127.0.0.1 to a port on ::1 or 127.0.0.2, localhost to a LAN
// address) is refused, and verify would call healthy nodes down.
func (v *validator) hostReaches(pub net.IP) {
	t, d := v.t, v.d
	if pub.Equal(net.IPv4zero) || validHost(t.Host) != "" {
		return // every interface ("" too); or a host already reported
	}
	var why string
	var fixes []string
	switch hip := net.ParseIP(t.Host); {
	case pub.Equal(net.IPv6unspecified):
		// Docker binds [::] to IPv6 alone (tried on Docker 28): an IPv4
		// address never arrives; localhost may be ::1.
		if hip == nil {
			return
		}
		why = "docker binds :: to IPv6 alone, so a connection to " + t.Host + " never arrives there"
		fixes = append(fixes, `compose.publish_address: "" (every interface, IPv4 and IPv6)`)
	case hip != nil:
		if hip.Equal(pub) {
			return
		}
		why = "a connection to " + t.Host + " never arrives there"
		fixes = append(fixes, "compose.publish_address: "+t.Host)
	case strings.EqualFold(t.Host, "localhost"):
		if pub.Equal(net.IPv4(127, 0, 0, 1)) || pub.Equal(net.IPv6loopback) {
			return
		}
		why = "localhost is 127.0.0.1 (or ::1)"
		fixes = append(fixes, "compose.publish_address: 127.0.0.1")
	default:
		return
	}
	if pub.To4() != nil && !pub.IsUnspecified() { // django.host takes IPv4 addresses only
		fixes = append([]string{"django.host: " + pub.String()}, fixes...)
	}
	fix := strings.Join(fixes, ", or ")
	if !d.given("django.host") {
		d.errorAt("compose.publish_address", "publishes the nodes' ports on %s only, where django.host (%s, its default) does not reach: %s; write %s", t.PublishAddress, t.Host, why, fix)
		return
	}
	d.errorAt("django.host", "%s does not reach the nodes: %s publishes their ports on %s only, and %s; write %s", t.Host, v.written("compose.publish_address", "its default"), t.PublishAddress, why, fix)
}

// reservedRole says why PostgreSQL will not have name as a role ("" when it
// will).
func reservedRole(name string) string {
	switch {
	case strings.HasPrefix(name, "pg_"):
		return "names starting with pg_ are PostgreSQL's own roles"
	case name == "public":
		return "PostgreSQL's name for every role"
	case name == "none":
		return "PostgreSQL reserves it"
	}
	return ""
}

// reservedUser refuses a user PostgreSQL cannot create.
func (v *validator) reservedUser() {
	if why := reservedRole(v.t.User); why != "" {
		v.d.errorAt("user", "%q is a reserved role name (%s): the image's initdb fails on it, so no node would come up; choose another user name, such as %s", v.t.User, why, DefaultUser)
	}
}
