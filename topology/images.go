package topology

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/citusgen/citusgen/citus"
)

// Majors a postgres key may name: PostgreSQL 10 was the first with a
// one-number major.
const minMajor, maxMajor = 10, 99

// images gives every node the PostgreSQL major of its image, which decides
// where the image keeps its data (citus.DataVolume).
func (v *validator) images() {
	t, d := v.t, v.d
	if d.given("postgres") {
		v.major("postgres", t.Postgres)
		if t.Image == NoImage {
			d.errorAt("postgres", "goes with an image; with image: none the nodes run from no image, so remove postgres")
		}
	}
	contradicted := map[string]bool{}
	missing := map[string]bool{}
	for _, n := range []*Node{&t.Coordinator} {
		v.nodeImage(n, contradicted, missing)
	}
	for i := range t.Workers {
		v.nodeImage(&t.Workers[i], contradicted, missing)
	}
}

func (v *validator) nodeImage(n *Node, contradicted, missing map[string]bool) {
	t, d := v.t, v.d
	if n.path == "" {
		return // not decoded; reported already
	}
	imagePath, pgPath := field(*n, "image"), field(*n, "postgres")
	ownImage := d.given(imagePath) && n.Image != t.Image
	ownPG := d.given(pgPath)
	if ownPG {
		v.major(pgPath, n.Postgres)
	}
	if !ownImage {
		imagePath = "image"
	}
	if n.Image == NoImage {
		if ownPG {
			d.errorAt(pgPath, "goes with an image; this node runs from none (image: none), so remove postgres")
		}
		n.Postgres = 0
		if !missing[imagePath] {
			missing[imagePath] = true
			t.composeErrs = append(t.composeErrs, d.problemAt(imagePath, imagePath, "is none: the nodes it covers run from no image (a server from packages or a virtual machine), so they have no compose service; give them an image to render compose (render settings, render sql, bootstrap and verify need none)"))
		}
		return
	}
	explicit, explicitPath := 0, ""
	switch {
	case ownPG:
		explicit, explicitPath = n.Postgres, pgPath
	case !ownImage && d.given("postgres"):
		explicit, explicitPath = t.Postgres, "postgres"
	}
	tagged, placed := citus.ImagePostgres(n.Image)
	switch {
	case placed && explicit != 0 && explicit != tagged:
		if !contradicted[explicitPath] {
			contradicted[explicitPath] = true
			d.errorAt(explicitPath, "says PostgreSQL %d, but %s is a PostgreSQL %d image; remove postgres, or name the image of PostgreSQL %d (the citusdata/citus tags end in -pg%d for it)", explicit, n.Image, tagged, explicit, explicit)
		}
	case placed:
		n.Postgres = tagged
	case explicit != 0:
		n.Postgres = explicit
	default:
		n.Postgres = 0
		want := "postgres"
		if ownImage {
			want = pgPath
		}
		if !missing[want] {
			missing[want] = true
			t.composeErrs = append(t.composeErrs, d.problemAt(imagePath, want,
				"is missing: citusgen cannot tell which PostgreSQL major %s runs (only the citusdata/citus tags say it), so not where the image keeps its data; add postgres: MAJOR beside the image (18 and later keep data in %s, earlier majors in %s)",
				short(n.Image), citus.DataVolume(citus.LayoutMajor), citus.DataVolume(citus.LayoutMajor-1)))
		}
	}
}

func (v *validator) major(path string, major int) {
	if major < minMajor || major > maxMajor {
		v.d.errorAt(path, "%d is not a PostgreSQL major version such as 17 or 18 (one whole number, %d or later)", major, minMajor)
	}
}

// publishing checks where ports are published and the opt-in healthcheck
// start interval.
func (v *validator) publishing() {
	t, d := v.t, v.d
	ip := net.ParseIP(t.PublishAddress)
	if t.PublishAddress == "" {
		ip = net.IPv4zero // no address: every interface, as docker publishes without one
	}
	switch {
	case ip == nil:
		d.errorAt("compose.publish_address", "%s is not an IP address; give the host address to publish the nodes' ports on (127.0.0.1 for this machine only, \"\" for every interface)", short(t.PublishAddress))
	case !ip.IsLoopback() && t.TrustAuthentication && v.publishes():
		d.errorAt("compose.publish_address", "publishes the nodes on %s while trust_authentication lets anyone who reaches a node in as the superuser, without a password; publish on 127.0.0.1, or give password or password_env", publishedWhere(t.PublishAddress))
	case ip.IsLoopback() && t.Reaches == ReachHost && !loopbackHost(t.Host) && v.publishes():
		d.errorAt("django.host", "is %s, but the nodes' ports are published on %s only, which Django cannot reach there; set compose.publish_address to an address of this host that %s reaches (\"\" for every interface), or django.host: localhost", short(t.Host), t.PublishAddress, t.Host)
	case t.Reaches == ReachHost && v.publishes():
		v.hostReaches(ip)
	}
	if d.given("compose.healthcheck_start_interval") {
		if dur, err := time.ParseDuration(t.HealthStartInterval); err != nil || dur <= 0 {
			d.errorAt("compose.healthcheck_start_interval", "%s is not a duration such as 1s or 500ms", short(t.HealthStartInterval))
		}
	}
}

// publishes reports whether any container publishes a port (a server
// outside compose publishes none: port is where it listens).
func (v *validator) publishes() bool {
	for _, n := range v.t.Nodes() {
		if n.Port != 0 && n.RunsFromImage() {
			return true
		}
	}
	return false
}

func publishedWhere(addr string) string {
	if addr == "" {
		return "every interface"
	}
	return addr
}

// loopbackHost: a host name that names this machine's loopback.
func loopbackHost(h string) bool {
	if ip := net.ParseIP(h); ip != nil {
		return ip.IsLoopback()
	}
	return strings.EqualFold(h, "localhost") // DNS ignores case, /etc/hosts too
}

// PublishedPort is the compose ports entry of a node: its published port,
// overridable through its variable, on the publish address (none: every
// interface).
func (t *Topology) PublishedPort(n Node) string {
	entry := fmt.Sprintf("${%s:-%d}:%d", n.PortVariable, n.Port, t.ContainerPort)
	switch ip := net.ParseIP(t.PublishAddress); {
	case t.PublishAddress == "":
		return entry
	case ip != nil && ip.To4() == nil:
		return "[" + t.PublishAddress + "]:" + entry
	}
	return t.PublishAddress + ":" + entry
}
