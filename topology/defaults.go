package topology

import (
	"reflect"
	"strings"
)

// declared holds the declared defaults: a spec that gives no key.
var declared = func() (t Topology) {
	declaredDefaults(reflect.ValueOf(&t).Elem(), "", &decoder{})
	return t
}()

// The defaults other packages compare with.
var (
	DefaultImage          = declared.Image
	DefaultUser           = declared.User
	DefaultHost           = declared.Host
	DefaultEngine         = declared.Engine
	DefaultContainerPort  = declared.ContainerPort
	DefaultPublishAddress = declared.PublishAddress
	DefaultVolumePrefix   = declared.VolumePrefixVariable
)

// given reports whether the spec wrote the key at path.
func (d *decoder) given(path string) bool {
	_, ok := d.pos[path]
	return ok
}

func applyDefaults(t *Topology, d *decoder) {
	declaredDefaults(reflect.ValueOf(t).Elem(), "", d)
	// The defaults that depend on other keys.
	if !d.given("database_variable") {
		// CommCare HQ's CI exported UCR_CITUS_DB; developer compose files used CITUS_DB.
		t.DatabaseVariable = "CITUS_DB"
		if t.Profile == ProfileCI {
			t.DatabaseVariable = "UCR_CITUS_DB"
		}
	}
	if !d.given("django.roles") {
		t.Roles = t.Profile != ProfileCI
	}
	if !d.given("compose.setup") {
		// The setup service and the membership manager both register
		// workers (by service and by container name): one flow at a time.
		t.Setup = !t.MembershipManager
	}
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

// declaredDefaults gives every key of v (and its sections) that the spec
// leaves out its default tag.
func declaredDefaults(v reflect.Value, path string, d *decoder) {
	for _, k := range keysOf(v.Type()) {
		p := join(path, k.name)
		if k.section {
			declaredDefaults(v.Field(k.index), p, d)
		} else if k.def.IsValid() && !d.given(p) {
			v.Field(k.index).Set(k.def)
		}

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
