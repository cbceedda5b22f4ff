package topology

import (
	"strings"

	"github.com/citusgen/citusgen/citus"
)

// Defaults for keys a spec leaves out.
const (
	DefaultImage         = "citusdata/citus:14.1"
	DefaultDatabase      = "commcare_ucr_citus"
	DefaultUser          = "commcarehq"
	DefaultHost          = "localhost"
	DefaultEngine        = "django.db.backends.postgresql"
	DefaultContainerPort = 5432
	// DefaultPublishAddress keeps the nodes off the network: a superuser
	// with a known password is no service for everyone who can reach the host.
	DefaultPublishAddress = "127.0.0.1"
	DefaultManagerImage   = citus.ManagerRepository + ":0.3.0"
	DefaultVolumePrefix   = "VOLUME_PREFIX"
)

// given reports whether the spec wrote the key at path.
func (d *decoder) given(path string) bool {
	_, ok := d.pos[path]
	return ok
}

func applyDefaults(t *Topology, d *decoder) {
	def := func(path string, set func()) {
		if !d.given(path) {
			set()
		}
	}
	def("image", func() { t.Image = DefaultImage })
	def("database", func() { t.Database = DefaultDatabase })
	def("user", func() { t.User = DefaultUser })
	def("profile", func() { t.Profile = ProfileDev })
	// CommCare HQ's CI exported UCR_CITUS_DB; developer compose files used CITUS_DB.
	def("database_variable", func() {
		t.DatabaseVariable = "CITUS_DB"
		if t.Profile == ProfileCI {
			t.DatabaseVariable = "UCR_CITUS_DB"
		}
	})
	def("django.reaches", func() { t.Reaches = ReachHost })
	def("django.roles", func() { t.Roles = t.Profile != ProfileCI })
	def("compose.worker_password", func() { t.WorkerPassword = true })
	def("django.host", func() { t.Host = DefaultHost })
	def("django.engine", func() { t.Engine = DefaultEngine })
	def("django.disable_server_side_cursors", func() { t.DisableServerSideCursors = true })
	def("compose.container_port", func() { t.ContainerPort = DefaultContainerPort })
	def("compose.publish_address", func() { t.PublishAddress = DefaultPublishAddress })
	def("compose.manager_image", func() { t.ManagerImage = DefaultManagerImage })
	// The setup service and the membership manager both register workers
	// (by service and by container name): one flow at a time.
	def("compose.setup", func() { t.Setup = !t.MembershipManager })
	def("compose.volume_prefix_variable", func() { t.VolumePrefixVariable = DefaultVolumePrefix })
	fill := func(n *Node) {
		if n.Image == "" {
			n.Image = t.Image
		}
		if n.PortVariable == "" {
			n.PortVariable = PortVariable(n.Service)
		}
	}
	fill(&t.Coordinator)
	for i := range t.Workers {
		fill(&t.Workers[i])
	}
}

// PortVariable derives the compose variable for a node's published port the
// way CommCare HQ named them: citus_master -> CITUS_MASTER_EXTERNAL_PORT.
func PortVariable(service string) string {
	v := strings.ToUpper(nonWord.ReplaceAllString(service, "_"))
	if !strings.HasPrefix(v, "CITUS_") {
		v = "CITUS_" + v
	}
	return v + "_EXTERNAL_PORT"
}
