package main

import (
	"regexp"
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
		return o, badInputf("--host %q is not a host name or IP address", f.Host)
	}
	for _, spec := range f.Node {
		service, addr, ok := strings.Cut(spec, "=")
		if !ok {
			return o, badInputf("--node %q: write SERVICE=HOST:PORT", spec)
		}
		a, err := cluster.ParseAddress(addr)
		if err != nil || !hostRE.MatchString(a.Host) {
			return o, badInputf("--node %s: %q is not HOST:PORT", service, addr)
		}
		o.Nodes[service] = a
	}
	if _, err := cluster.Endpoints(t, o); err != nil {
		return o, badInput{err}
	}
	return o, nil
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
	t, err := s.load(e)
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
