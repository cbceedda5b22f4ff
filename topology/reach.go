package topology

import (
	"fmt"
	"net"
	"strings"
)

// hostReaches refuses a django.host that cannot reach the address the
// ports are published on: docker binds that one address, so a connection
// to any other (127.0.0.1 to a port on ::1 or 127.0.0.2, localhost to a
// LAN address) is refused, and verify would call healthy nodes down.
// localhost is 127.0.0.1 or ::1, as /etc/hosts says; other names are the
// network's to resolve, and verify says so when they miss (cluster).
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
	pubRef := "compose.publish_address (its default)"
	if pos, ok := d.pos["compose.publish_address"]; ok {
		pubRef = fmt.Sprintf("compose.publish_address (line %d, column %d)", pos.Line, pos.Column)
	}
	d.errorAt("django.host", "%s does not reach the nodes: %s publishes their ports on %s only, and %s; write %s", t.Host, pubRef, t.PublishAddress, why, fix)
}
