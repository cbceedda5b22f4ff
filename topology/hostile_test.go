package topology_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/citusgen/citusgen/topology"
)

// Specs a probe of mutated inputs found accepted (or refused) wrongly:
// names a resolver reads as addresses, YAML 1.1 boolean words, host names
// beyond DNS's limits, the node name citusgen derives itself, and bytes
// that are not UTF-8.
func TestHostileSpecs(t *testing.T) {
	const trust = "trust_authentication: true\n"
	long := strings.Repeat("a", 60) + "." // 61 characters
	cases := []struct {
		name, spec string
		want       []string // nil: the spec is valid
	}{
		{"numeric service", minimal + trust + "workers: [{service: '13', alias: w, port: 6001}]\n",
			[]string{`t.yaml:3:21: workers[0].service: "13" is a number; the service name is also the node's host name, and resolvers read a number as an IPv4 address (0.0.0.x): give it a name with a letter, such as citus_worker13`}},
		{"octal service", minimal + trust + "workers: [{service: '007', alias: w, port: 6001}]\n",
			[]string{`t.yaml:3:21: workers[0].service: "007" is a number; the service name is also the node's host name, and resolvers read a number as an IPv4 address (0.0.0.x): give it a name with a letter, such as citus_worker7`}},
		{"hex service", minimal + trust + "workers: [{service: 0x10, alias: w, port: 6001}]\n",
			[]string{`t.yaml:3:21: workers[0].service: "0x10" is a number; the service name is also the node's host name, and resolvers read a number as an IPv4 address (0.0.0.x): give it a name with a letter, such as citus_worker10`}},
		{"numeric count prefix", minimal + trust + "workers: {count: 3, service_prefix: 1, alias_prefix: w, first_port: 6001}\n",
			[]string{`t.yaml:3:37: workers.service_prefix: "11" is a number; the service name is also the node's host name, and resolvers read a number as an IPv4 address (0.0.0.x): give it a name with a letter, such as citus_worker11`}},
		// YAML reads these as numbers, dates, booleans or null; quoted in
		// the spec they are names, and the rendered files quote them too.
		{"float-looking service", minimal + trust + "workers: [{service: '1e5', alias: w, port: 6001}]\n", nil},
		{"date-looking service", minimal + trust + "workers: [{service: '2026-01-01', alias: w, port: 6001}]\n", nil},
		{"boolean-looking service", minimal + trust + "workers: [{service: 'true', alias: w, port: 6001}, {service: 'null', alias: x, port: 6002}, {service: 'no', alias: y, port: 6003}]\n", nil},

		{"YAML 1.1 no", minimal + trust + "workers: [{service: w, alias: w, port: 6001}]\ndjango: {settings: {ICDS_USE_CITUS: no}}\n",
			[]string{`t.yaml:4:37: django.settings.ICDS_USE_CITUS: no is a boolean in YAML 1.1 but the string "no" here (Python would take it as true); write true or false, or quote it ("no") if you mean the string`}},
		{"YAML 1.1 Off", minimal + trust + "workers: [{service: w, alias: w, port: 6001}]\ndjango: {settings: {A: Off, B: n, C: 'no', D: false}}\n",
			[]string{
				`t.yaml:4:24: django.settings.A: Off is a boolean in YAML 1.1 but the string "Off" here (Python would take it as true); write true or false, or quote it ("Off") if you mean the string`,
				`t.yaml:4:32: django.settings.B: n is a boolean in YAML 1.1 but the string "n" here (Python would take it as true); write true or false, or quote it ("n") if you mean the string`,
			}},

		{"node name citusgen would derive", minimal + trust + "workers: [{service: citus_worker1, alias: w, port: 6001, node_name: 'citus_worker1:5432'}]\n", nil},
		{"node name host too long", minimal + trust + "workers: [{service: w, alias: w, port: 6001, node_name: '" + strings.Repeat(long, 5) + "x:5432'}]\n",
			[]string{`t.yaml:3:57: workers[0].node_name: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaa"... is not host:port: the host is 306 characters long; a host name has at most 253`}},
		{"django host too long", minimal + trust + "workers: [{service: w, alias: w, port: 6001}]\ndjango: {host: '" + strings.Repeat("h", 300) + "'}\n",
			[]string{`t.yaml:4:16: django.host: "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh"... is not a valid host name or IPv4 address: it is 300 characters long; a host name has at most 253`}},
		{"django host label too long", minimal + trust + "workers: [{service: w, alias: w, port: 6001}]\ndjango: {host: 'db." + strings.Repeat("h", 64) + ".example'}\n",
			[]string{`t.yaml:4:16: django.host: "db.hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh.example" is not a valid host name or IPv4 address: it has a label of 64 characters (hhhhhhhhhhhhhhhhhhhh...); a DNS label has at most 63`}},
		{"django host empty label", minimal + trust + "workers: [{service: w, alias: w, port: 6001}]\ndjango: {host: 'db..example'}\n",
			[]string{`t.yaml:4:16: django.host: "db..example" is not a valid host name or IPv4 address: it has an empty label (two dots, or a dot at an end)`}},
		{"django host IPv4", minimal + trust + "workers: [{service: w, alias: w, port: 6001}]\ndjango: {host: 127.0.0.2}\ncompose: {publish_address: 127.0.0.2}\n", nil},

		// Keys and values from a spec reach a terminal or a CI log: an
		// escape sequence in one is shown quoted, never sent as it is.
		{"escape sequence in an unknown key", minimal + trust + "workers: [{service: w, alias: w, port: 6001}]\n\"\\e[31mimage\": x\n",
			[]string{`t.yaml:4:1: "\x1b[31mimage": unknown key; valid keys here: image, postgres, database, database_variable, user, password, password_env, trust_authentication, profile, django, coordinator, workers, compose`}},
		{"control characters in a setting name", minimal + trust + "workers: [{service: w, alias: w, port: 6001}]\ndjango: {settings: {\"A\\e]0;pwned\\a\": 1}}\n",
			[]string{`t.yaml:4:21: "django.settings.A\x1b]0;pwned\a": "A\x1b]0;pwned\a" is not a valid setting name (UPPER_CASE Python identifier)`}},
		{"escape sequences in the names of a worker without a port", minimal + trust + "workers: [{service: \"w\\e[8m\", alias: \"a\\e[8m\"}]\n",
			[]string{
				`t.yaml:3:11: workers[0]: worker "w\x1b[8m" publishes no port, so Django on the host cannot reach its alias "a\x1b[8m"; give it a port, drop the alias, or set django.reaches: network`,
				`t.yaml:3:21: workers[0].service: "w\x1b[8m" is not a valid compose service name (lower-case letters, digits, _ and -)`,
				`t.yaml:3:38: workers[0].alias: "a\x1b[8m" is not a valid Django alias (letters, digits, _ and -)`,
			}},
		{"invalid UTF-8", minimal + trust + "workers: [{service: w, alias: \"w\xff\", port: 6001}]\n",
			[]string{`t.yaml:3:33: byte 0xff is not UTF-8; a topology is UTF-8 text: save the file as UTF-8`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			top, err := topology.Parse("t.yaml", []byte(c.spec))
			if c.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(top.Workers) == 0 {
					t.Fatal("no workers")
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, c.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}
