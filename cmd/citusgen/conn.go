package main

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/topology"
)

// connFlags say where citusgen reaches the nodes; bootstrap and verify share them.
type connFlags struct {
	Reach   string   `placeholder:"host|network" predictor:"reach" env:"CITUSGEN_REACH" help:"Reach nodes from the host (published ports) or the compose network (service names); default: the topology's django.reaches."`
	Host    string   `env:"CITUSGEN_HOST" help:"Connect to every node on this host (ports as --reach gives them)."`
	Node    []string `env:"CITUSGEN_NODES" sep:"," placeholder:"SERVICE=HOST:PORT" help:"Connect to one node at this address; repeat or comma-separate."`
	SSLMode string   `default:"prefer" env:"CITUSGEN_SSLMODE" enum:"disable,allow,prefer,require,verify-ca,verify-full" help:"libpq sslmode for citusgen's connections."`
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

// addresses validates the address flags; it needs no password.
func (f connFlags) addresses(t *topology.Topology) (cluster.Options, error) {
	o := cluster.Options{Reach: topology.Reach(f.Reach), Host: f.Host, SSLMode: f.SSLMode, Nodes: map[string]cluster.Address{}}
	switch o.Reach {
	case "", topology.ReachHost, topology.ReachNetwork:
	default:
		return o, badInputf("--reach must be host or network, not %q", f.Reach)
	}
	if f.Host != "" && !hostRE.MatchString(f.Host) {
		return o, badInputf("--host %s is %s: write --host HOST (or CITUSGEN_HOST=HOST), a host name or IP address alone, such as db.internal or 10.1.2.3; citusgen takes the user, password and database from the topology", showAddress(f.Host), notAddress(f.Host, "a host name or IP address"))
	}
	nodes := t.Nodes()
	example := nodes[len(nodes)-1].Service
	for _, spec := range f.Node {
		service, addr, ok := strings.Cut(spec, "=")
		if !ok || cluster.LooksLikeConninfo(spec) {
			return o, badInputf("--node %s is %s: write --node SERVICE=HOST:PORT (or CITUSGEN_NODES=SERVICE=HOST:PORT,...), such as %s=10.1.2.3:5432; citusgen takes the user, password and database from the topology", showAddress(spec), notAddress(spec, "SERVICE=HOST:PORT"), example)
		}
		a, err := cluster.ParseAddress(addr)
		if err != nil || !hostRE.MatchString(a.Host) {
			return o, badInputf("--node %s: %s is %s: write --node %s=HOST:PORT (or CITUSGEN_NODES=%s=HOST:PORT,...), such as %s=10.1.2.3:5432", service, showAddress(addr), notAddress(addr, "HOST:PORT"), service, service, service)
		}
		o.Nodes[service] = a
	}
	if _, err := cluster.Endpoints(t, o); err != nil {
		return o, badInputf("%s", cluster.RedactConninfo(err.Error()))
	}
	return o, nil
}

// showAddress quotes a value given for an address, its password masked
// (a connection string passed where HOST belongs).
func showAddress(s string) string { return strconv.Quote(cluster.RedactConninfo(s)) }

// notAddress says what a refused address value is instead of want.
func notAddress(s, want string) string {
	if cluster.LooksLikeConninfo(s) {
		return "a connection string (its password not shown), not " + want
	}
	return "not " + want
}

// addressFunc says where each node is reached, for scripts that print SQL
// without connecting (no password needed).
func (f connFlags) addressFunc(t *topology.Topology) (generator.AddressFunc, error) {
	o, err := f.addresses(t)
	if err != nil {
		return nil, err
	}
	return cluster.Addresses(t, o)
}

// liveSpec loads the spec and where and how to reach its nodes: what every
// command that talks to the live cluster starts with.
func liveSpec(e *env, s specFlag, f connFlags) (*topology.Topology, cluster.Options, error) {
	t, err := s.spec(e, forCluster)
	if err != nil {
		return nil, cluster.Options{}, err
	}
	o, err := f.options(t)
	return t, o, err
}

// options adds the password to the addresses.
func (f connFlags) options(t *topology.Topology) (cluster.Options, error) {
	o, err := f.addresses(t)
	if err != nil {
		return o, err
	}
	pw, err := t.ResolvePassword(nil)
	if err != nil {
		return o, badInput{err}
	}
	o.Password = pw
	return o, nil
}
