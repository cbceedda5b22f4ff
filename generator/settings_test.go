package generator_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/testsupport/goldenfile"
	"github.com/citusgen/citusgen/testsupport/pyeval"
	"github.com/citusgen/citusgen/topology"
)

// The seed's dicts, as the setup guide has them (workers differ: PASSWORD,
// since current images need a password on every node, and an empty
// TEST.DEPENDENCIES, so that a test may name them without 'default'; see
// docs/rendered.md).
func seedDatabases() map[string]any {
	worker := func(port, node string) map[string]any {
		return map[string]any{
			"ENGINE": "django.db.backends.postgresql", "DISABLE_SERVER_SIDE_CURSORS": true,
			"NAME": "commcare_ucr_citus", "USER": "commcarehq", "PASSWORD": "commcarehq",
			"HOST": "localhost", "PORT": port, "TEST": map[string]any{"SERIALIZE": false, "DEPENDENCIES": []any{}},
			"ROLE": "citus_worker", "CITUS_NODE_NAME": node,
		}
	}
	return map[string]any{
		"icds-ucr": map[string]any{
			"ENGINE": "django.db.backends.postgresql", "DISABLE_SERVER_SIDE_CURSORS": true,
			"NAME": "commcare_ucr_citus", "USER": "commcarehq", "PASSWORD": "commcarehq",
			"HOST": "localhost", "PORT": "5600",
			"TEST": map[string]any{"SERIALIZE": false, "DEPENDENCIES": []any{"citus-ucr-worker1", "citus-ucr-worker2"}},
			"ROLE": "citus_master",
		},
		"citus-ucr-worker1": worker("5601", "citus_worker1:5432"),
		"citus-ucr-worker2": worker("5602", "citus_worker2:5432"),
	}
}

func TestDefaultSettingsAreTheSeeds(t *testing.T) {
	cases := map[string]goldenfile.Case{}
	for _, c := range goldenfile.Cases(t) {
		cases[c.Name] = c
	}
	frag, err := generator.SettingsFor(cases["default"].Top, generator.SettingsFile)
	if err != nil {
		t.Fatal(err)
	}
	got := pyeval.Settings(t, frag)
	want := map[string]any{
		"DATABASES":           seedDatabases(),
		"REPORTING_DATABASES": map[string]any{"icds-ucr-citus": "icds-ucr"},
		"ICDS_USE_CITUS":      true,
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", "  ")
		wj, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("default settings:\n%s\nwant:\n%s", gj, wj)
	}

	// ci: the same, minus ROLE, with the test database named explicitly.
	frag, _ = generator.SettingsFor(cases["ci-profile"].Top, generator.SettingsFile)
	got = pyeval.Settings(t, frag)
	ci := seedDatabases()
	for _, db := range ci {
		m := db.(map[string]any)
		delete(m, "ROLE")
		m["TEST"].(map[string]any)["NAME"] = "test_commcare_ucr_citus"
	}
	if !reflect.DeepEqual(got["DATABASES"], ci) {
		gj, _ := json.MarshalIndent(got["DATABASES"], "", "  ")
		t.Errorf("ci settings:\n%s", gj)
	}

	// network: service names and the container port; CITUS_NODE_NAME unchanged.
	frag, _ = generator.SettingsFor(cases["django-in-network"].Top, generator.SettingsFile)
	dbs := pyeval.Settings(t, frag)["DATABASES"].(map[string]any)
	for alias, hp := range map[string][2]string{"icds-ucr": {"citus_master", "5432"}, "citus-ucr-worker1": {"citus_worker1", "5432"}} {
		db := dbs[alias].(map[string]any)
		if db["HOST"] != hp[0] || db["PORT"] != hp[1] {
			t.Errorf("network %s: HOST %v PORT %v", alias, db["HOST"], db["PORT"])
		}
	}
	if dbs["citus-ucr-worker1"].(map[string]any)["CITUS_NODE_NAME"] != "citus_worker1:5432" {
		t.Errorf("network CITUS_NODE_NAME %v", dbs["citus-ucr-worker1"])
	}

	// password from the environment: read at import time.
	frag, _ = generator.SettingsFor(cases["password-env"].Top, generator.SettingsFile)
	dbs = pyeval.Settings(t, frag, "CITUS_PASSWORD=from env 'x'")["DATABASES"].(map[string]any)
	if pw := dbs["icds-ucr"].(map[string]any)["PASSWORD"]; pw != "from env 'x'" {
		t.Errorf("password-env PASSWORD = %v", pw)
	}
}

// Every golden fragment is valid Python that evaluates to the spec's strings,
// whatever characters they hold.
func TestSettingsRoundTrip(t *testing.T) {
	for _, c := range goldenfile.Cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			frag, err := generator.SettingsFor(c.Top, generator.SettingsFile)
			if err != nil {
				t.Fatal(err)
			}
			got := pyeval.Settings(t, frag, "CITUS_PASSWORD=pw")
			dbs := got["DATABASES"].(map[string]any)
			aliased := 0
			for _, n := range c.Top.Nodes() {
				if n.Alias != "" {
					aliased++
				}
			}
			if len(dbs) != aliased {
				t.Errorf("%d aliases, want %d", len(dbs), aliased)
			}
			for _, n := range c.Top.Nodes() {
				if n.Alias == "" {
					continue
				}
				db := dbs[n.Alias].(map[string]any)
				want := c.Top.Password
				if c.Top.PasswordEnv != "" {
					want = "pw"
				}
				if n.Role == topology.Worker && !c.Top.WorkerPassword {
					want = ""
				}
				if db["PASSWORD"] != want || db["USER"] != c.Top.User || db["NAME"] != c.Top.Database {
					t.Errorf("%s: PASSWORD %q USER %q NAME %q", n.Alias, db["PASSWORD"], db["USER"], db["NAME"])
				}
				_, hasRole := db["ROLE"]
				if hasRole != c.Top.Roles {
					t.Errorf("%s: ROLE present = %v with roles %v", n.Alias, hasRole, c.Top.Roles)
				}
			}
			for _, s := range c.Top.Settings {
				want := s.Value
				if i, ok := want.(int64); ok {
					want = float64(i) // JSON numbers
				}
				if got[s.Name] != want {
					t.Errorf("%s = %#v, want %#v", s.Name, got[s.Name], want)
				}
			}
		})
	}
}
