package steps_test

import (
	"strings"
	"testing"

	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/testsupport/goldenfile"
)

// Workers first, the coordinator last, registering each worker by its
// node name: the order the script and bootstrap run in.
func TestBootstrapOrder(t *testing.T) {
	top := goldenfile.Spec(t, "password: pw\ncoordinator: {service: c, alias: c, port: 6000}\nworkers: [{service: w1, alias: w1, port: 6001}, {service: w2, port: 6002, node_name: 'db2.example:6432'}]\n")
	var got []string
	for _, ns := range steps.BootstrapSteps(top) {
		for _, st := range ns.Steps {
			got = append(got, ns.Node.Service+": "+st.Action)
		}
	}
	want := []string{
		"w1: create database commcare_ucr_citus", "w1: create extension citus", "w1: store inter-node credentials",
		"w2: create database commcare_ucr_citus", "w2: create extension citus", "w2: store inter-node credentials",
		"c: create database commcare_ucr_citus", "c: create extension citus", "c: store inter-node credentials",
		"c: set coordinator host c:5432", "c: register worker w1:5432", "c: register worker db2.example:6432",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Without a password there are no credentials to store.
	trust := goldenfile.Spec(t, "trust_authentication: true\ncoordinator: {service: c, alias: c, port: 6000}\nworkers: [{service: w1, port: 6001}]\n")
	for _, ns := range steps.BootstrapSteps(trust) {
		for _, st := range ns.Steps {
			if st.Authinfo {
				t.Errorf("%s: %s stores credentials without a password", ns.Node.Service, st.Action)
			}
		}
	}
}

// The password never enters a statement: it is the parameter $1.
func TestCredentialsAreAParameter(t *testing.T) {
	st := steps.StoreCredentials(goldenfile.Spec(t, "password: \"it's s3cret\"\ncoordinator: {service: c, alias: c, port: 6000}\nworkers: [{service: w1, port: 6001}]\n"))
	if !st.Authinfo || !strings.Contains(st.SQL, "$1") || strings.Contains(st.SQL, "s3cret") {
		t.Errorf("store credentials: %+v", st)
	}
}

// Names are quoted wherever they go: a database name is an identifier in
// CREATE and DROP DATABASE and a literal in the guards.
func TestStepsQuoteNames(t *testing.T) {
	top := goldenfile.Spec(t, "database: select\nuser: o_reilly\npassword: pw\ncoordinator: {service: c, alias: c, port: 6000}\nworkers: [{service: w1, port: 6001}]\n")
	create := steps.CreateDatabase(top)
	if create.SQL != `CREATE DATABASE "select"` || !strings.Contains(create.Guard, "datname = 'select'") || create.Target != steps.OnMaintenance {
		t.Errorf("create database: %+v", create)
	}
	var reset []string
	for _, st := range steps.ResetSteps(top) {
		reset = append(reset, st.SQL)
	}
	for _, want := range []string{"WHERE datname = 'select' AND", `DROP DATABASE IF EXISTS "select" WITH (FORCE)`, `CREATE DATABASE "select"`} {
		if !strings.Contains(strings.Join(reset, "\n"), want) {
			t.Errorf("reset lacks %q:\n%s", want, strings.Join(reset, "\n"))
		}
	}
	if cred := steps.StoreCredentials(top); !strings.Contains(cred.SQL, "'o_reilly'") {
		t.Errorf("credentials: %s", cred.SQL)
	}
}

// The repairs name the registration they change and run guarded.
func TestRepairs(t *testing.T) {
	top := goldenfile.Spec(t, "password: pw\ncoordinator: {service: c, alias: c, port: 6000}\nworkers: [{service: w1, port: 6001}]\n")
	w := top.Workers[0]
	for _, c := range []struct {
		st             steps.Step
		action, guards string
	}{
		{steps.ActivateWorker(top, w), "activate worker w1:5432", "NOT isactive"},
		{steps.RenameRegistration(top, w, 7, "w1-old:5432"), "rename registration w1-old:5432 (nodeid 7) to w1:5432", "nodeid = 7"},
		{steps.RemoveNonPrimary(top, w), "remove non-primary registration w1:5432", "noderole <> 'primary'"},
	} {
		if c.st.Action != c.action || !strings.Contains(c.st.Guard, c.guards) || c.st.Target != steps.OnCluster {
			t.Errorf("%+v, want action %q, guard with %q", c.st, c.action, c.guards)
		}
	}
	if st := steps.SyncMetadata(); st.Guard != "" || !strings.Contains(st.SQL, "start_metadata_sync_to_all_nodes") {
		t.Errorf("sync metadata: %+v", st)
	}
}
