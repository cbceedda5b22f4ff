package topology_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/citusgen/citusgen/topology"
)

// refusals are specs topology.Parse must refuse, with exactly these
// problems.
type refusals []struct {
	name, spec string
	want       []string
}

func (cases refusals) run(t *testing.T) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := topology.Parse("t.yaml", []byte(c.spec))
			if err == nil {
				t.Fatal("accepted")
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, c.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// Citus compares node names as written, but two spellings of one host:port
// name one server: a port is a number and DNS ignores case. Registered
// twice, bootstrap would never converge.
func TestNodeNameSpellings(t *testing.T) {
	const trust = "trust_authentication: true\n"
	const tail = " spelled another way (host names ignore case, a port is a number); Citus would register one server twice and bootstrap would never converge: give each node its own host:port"
	refusals{
		{"a leading zero in the port", minimal + trust +
			"workers:\n  - {service: w1, alias: w1, port: 6001, node_name: '127.0.0.1:6101'}\n  - {service: w2, alias: w2, port: 6002, node_name: '127.0.0.1:06101'}\n",
			[]string{`t.yaml:5:53: workers[1].node_name: node name "127.0.0.1:06101" is "127.0.0.1:6101" of worker w1 (workers[0].node_name, line 4, column 53)` + tail}},
		{"case, against a service", minimal + trust +
			"workers:\n  - {service: w1, alias: w1, port: 6001}\n  - {service: w2, alias: w2, port: 6002, node_name: 'W1:5432'}\n",
			[]string{`t.yaml:5:53: workers[1].node_name: node name "W1:5432" is "w1:5432" of worker w1 (workers[0].service, line 4, column 15)` + tail}},
		{"case, against a node name", minimal + trust +
			"workers:\n  - {service: w1, alias: w1, port: 6001, node_name: 'db.example:5432'}\n  - {service: w2, alias: w2, port: 6002, node_name: 'DB.Example:5432'}\n",
			[]string{`t.yaml:5:53: workers[1].node_name: node name "DB.Example:5432" is "db.example:5432" of worker w1 (workers[0].node_name, line 4, column 53)` + tail}},
		{"case, against the coordinator", minimal + trust +
			"workers: [{service: w, alias: w, port: 6001, node_name: 'C:5432'}]\n",
			[]string{`t.yaml:3:57: workers[0].node_name: node name "C:5432" is "c:5432" of coordinator c (coordinator.service, line 1, column 24)` + tail}},
	}.run(t)
}

// A whole number too large for a port is out of range, not "not a whole
// number", in every port field.
func TestPortsOutOfRange(t *testing.T) {
	const trust = "trust_authentication: true\n"
	huge := "12345678901234567890123" // 23 digits
	refusals{
		{"port, container_port and node_name", "coordinator: {service: c, alias: c, port: " + huge + "}\n" + trust +
			"compose: {container_port: " + huge + "}\n" +
			"workers:\n  - {service: w1, alias: w1, port: 6001, node_name: 'h:" + huge + "'}\n  - {service: w2, alias: w2, port: 6002, node_name: 'h:0'}\n",
			[]string{
				`t.yaml:1:43: coordinator.port: 12345678901234567890123 is out of range; a TCP port is between 1 and 65535`,
				`t.yaml:3:27: compose.container_port: 12345678901234567890123 is out of range; a TCP port is between 1 and 65535`,
				`t.yaml:5:53: workers[0].node_name: "h:12345678901234567890123" is not host:port: its port 12345678901234567890123 is out of range; a TCP port is between 1 and 65535`,
				`t.yaml:6:53: workers[1].node_name: "h:0" is not host:port: its port 0 is out of range; a TCP port is between 1 and 65535`,
			}},
		{"first_port", minimal + trust + "workers: {count: 2, service_prefix: w, alias_prefix: w, first_port: -" + huge + "}\n",
			[]string{`t.yaml:3:69: workers.first_port: -12345678901234567890123 is out of range; a TCP port is between 1 and 65535`}},
		{"a thousand digits", minimal + trust + "workers: [{service: w, alias: w, port: " + strings.Repeat("9", 1000) + "}]\n",
			[]string{`t.yaml:3:40: workers[0].port: 99999999999999999999... (1000 digits) is out of range; a TCP port is between 1 and 65535`}},
		{"count", minimal + trust + "workers: {count: " + huge + ", service_prefix: w, alias_prefix: w, first_port: 7000}\n",
			[]string{`t.yaml:3:18: workers.count: must be between 1 and 10000, found 12345678901234567890123`}},
	}.run(t)
}

// password_env must name no other variable of the spec: compose would put
// the password wherever that variable goes, in plain sight.
func TestPasswordEnvNamesNothingElse(t *testing.T) {
	refusals{
		{"database_variable", minimal + "password_env: CITUS_DB\ndatabase_variable: CITUS_DB\nworkers: [{service: w, alias: w, port: 6001}]\n",
			[]string{`t.yaml:2:15: password_env: CITUS_DB is also database_variable (line 3, column 20): the database would be named after the password, which every healthcheck's pg_isready -d shows; use another variable for one of them`}},
		{"the default database_variable", minimal + "password_env: CITUS_DB\nworkers: [{service: w, alias: w, port: 6001}]\n",
			[]string{`t.yaml:2:15: password_env: CITUS_DB is also database_variable (its default, not written in the spec): the database would be named after the password, which every healthcheck's pg_isready -d shows; use another variable for one of them`}},
		{"a port_variable", minimal + "password_env: PW\nworkers: [{service: w, alias: w, port: 6001}, {service: v, alias: v, port: 6002, port_variable: PW}]\n",
			[]string{`t.yaml:2:15: password_env: PW is also workers[1].port_variable (line 3, column 97): the published port would be the password, which docker compose ps shows; use another variable for one of them`}},
		{"a derived port_variable", minimal + "password_env: CITUS_W_EXTERNAL_PORT\nworkers: [{service: w, alias: w, port: 6001}]\n",
			[]string{`t.yaml:2:15: password_env: CITUS_W_EXTERNAL_PORT is also workers[0].port_variable (derived from workers[0].service, line 3, column 21): the published port would be the password, which docker compose ps shows; use another variable for one of them`}},
		{"the volume variables", minimal + "password_env: PW\ncompose: {volume_prefix_variable: PW, volume_blank_variable: PW}\nworkers: [{service: w, alias: w, port: 6001}]\n",
			[]string{`t.yaml:2:15: password_env: PW is also compose.volume_prefix_variable (line 3, column 35) and compose.volume_blank_variable (line 3, column 62): the data volumes would be named after the password, which docker volume ls shows; use another variable for one of them`}},
	}.run(t)
}

// PostgreSQL reserves some role names: the image's initdb fails on them
// (initdb -U, as its entrypoint runs with POSTGRES_USER), and no node comes
// up. The spec refuses them at the user key.
func TestReservedUser(t *testing.T) {
	const tail = "the image's initdb fails on it, so no node would come up; choose another user name, such as commcarehq"
	spec := func(user string) string {
		return minimal + "password: pw\nuser: " + user + "\nworkers: [{service: w, alias: w, port: 6001}]\n"
	}
	refusals{
		{"pg_ prefix", spec("pg_reader"), []string{`t.yaml:3:7: user: "pg_reader" is a reserved role name (names starting with pg_ are PostgreSQL's own roles): ` + tail}},
		{"public", spec("public"), []string{`t.yaml:3:7: user: "public" is a reserved role name (PostgreSQL's name for every role): ` + tail}},
		{"none", spec("none"), []string{`t.yaml:3:7: user: "none" is a reserved role name (PostgreSQL reserves it): ` + tail}},
	}.run(t)
	// Keywords that are fine as quoted role names: bootstrap and verify
	// work with each (tried on PostgreSQL 15 with Citus 13.2).
	for _, ok := range []string{"current_user", "session_user", "current_role", "user", "all", "pgx", "publicist"} {
		if _, err := topology.Parse("t.yaml", []byte(spec(ok))); err != nil {
			t.Errorf("user %s refused: %v", ok, err)
		}
	}
}
