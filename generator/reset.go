package generator

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/topology"
)

// ResetSQL prints what reset would run, node by node (coordinator first, so
// its metadata goes before the workers' databases).
func ResetSQL(t *topology.Topology, addr AddressFunc) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "-- citusgen reset: drops and recreates database %s on %d nodes; every table in it is lost.\n", t.ClusterDatabase(), len(t.Nodes()))
	for _, n := range t.Nodes() {
		host, port := addr(n)
		fmt.Fprintf(&b, "\n-- %s %s at %s\n\\connect -reuse-previous=on 'dbname=%s host=%s port=%s'\n", n.Role, n.Service, host+":"+strconv.Itoa(port), steps.ResetDatabase(t), host, strconv.Itoa(port))
		for _, s := range steps.ResetSteps(t) {
			fmt.Fprintf(&b, "%s;\n", s.SQL)
		}
	}
	return b.Bytes()
}
