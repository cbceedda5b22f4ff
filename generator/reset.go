package generator

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/topology"
)

// ResetSteps are the statements `citusgen reset` runs on every node, in the
// maintenance database: end other sessions on the cluster database, drop it
// and create it empty. They name the cluster database and nothing else.
func ResetSteps(t *topology.Topology) []Step {
	db := t.ClusterDatabase()
	return []Step{{
		Target: OnMaintenance,
		Action: "end other sessions on " + db,
		SQL:    "SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity WHERE datname = " + quote.SQLLiteral(db) + " AND pid <> pg_catalog.pg_backend_pid()",
	}, {
		Target: OnMaintenance,
		Action: "drop database " + db,
		// FORCE (PostgreSQL 13+) also ends sessions that connect in between.
		SQL: "DROP DATABASE IF EXISTS " + quote.SQLIdent(db) + " WITH (FORCE)",
	}, {
		Target: OnMaintenance,
		Action: "create database " + db,
		SQL:    "CREATE DATABASE " + quote.SQLIdent(db),
	}}
}

// ResetSQL prints what reset would run, node by node (coordinator first, so
// its metadata goes before the workers' databases).
func ResetSQL(t *topology.Topology, addr AddressFunc) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "-- citusgen reset: drops and recreates database %s on %d nodes; every table in it is lost.\n", t.ClusterDatabase(), len(t.Nodes()))
	for _, n := range t.Nodes() {
		host, port := addr(n)
		fmt.Fprintf(&b, "\n-- %s %s at %s\n\\connect -reuse-previous=on 'dbname=%s host=%s port=%s'\n", n.Role, n.Service, host+":"+strconv.Itoa(port), MaintenanceDatabase, host, strconv.Itoa(port))
		for _, s := range ResetSteps(t) {
			fmt.Fprintf(&b, "%s;\n", s.SQL)
		}
	}
	return b.Bytes()
}
