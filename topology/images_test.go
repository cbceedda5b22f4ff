package topology_test

import (
	"strings"
	"testing"
)

const twoNodes = "password: p\n" + minimal + "workers: [{service: w, alias: w, port: 6001}]\n"

// Each node's PostgreSQL major comes from the citusdata tag, or from the
// spec's postgres key where the tag cannot say.
func TestPostgresMajors(t *testing.T) {
	for _, c := range []struct {
		name, spec   string
		coord, wkr   int
		composeError string
	}{
		{"default image", twoNodes, 18, 18, ""},
		{"pinned -pg17", "image: citusdata/citus:14.1-pg17\n" + twoNodes, 17, 17, ""},
		{"13.2 is 17", "image: citusdata/citus:13.2\n" + twoNodes, 17, 17, ""},
		{"tag and key agree", "image: citusdata/citus:14.1\npostgres: 18\n" + twoNodes, 18, 18, ""},
		{"mirror with its major", "image: registry.example.com/citus:14.1\npostgres: 18\n" + twoNodes, 18, 18, ""},
		{"node's own image", "password: p\n" + minimal + "workers: [{service: w, alias: w, port: 6001, image: 'mirror/citus:x', postgres: 16}]\n", 18, 16, ""},
		{"count form", "password: p\n" + minimal + "workers: {count: 2, service_prefix: w, alias_prefix: w, first_port: 6001, image: 'mirror/citus:x', postgres: 15}\n", 18, 15, ""},
		{"node inherits the top key", "image: mirror/citus:x\npostgres: 17\npassword: p\n" + minimal + "workers: [{service: w, alias: w, port: 6001, image: 'citusdata/citus:13.2-pg15'}]\n", 17, 15, ""},
		{"unplaced top image", "image: mirror/citus:x\n" + twoNodes, 0, 0,
			`t.yaml:1:8: postgres: is missing: citusgen cannot tell which PostgreSQL major "mirror/citus:x" runs (only the citusdata/citus tags say it), so not where the image keeps its data; add postgres: MAJOR beside the image (18 and later keep data in /var/lib/postgresql, earlier majors in /var/lib/postgresql/data)`},
		{"latest", "image: citusdata/citus:latest\n" + twoNodes, 0, 0, `t.yaml:1:8: postgres: is missing: citusgen cannot tell which PostgreSQL major "citusdata/citus:latest" runs`},
		{"unplaced node image", "password: p\n" + minimal + "workers: [{service: w, alias: w, port: 6001, image: 'citusdata/citus@sha256:" + strings.Repeat("a", 64) + "'}]\n", 18, 0,
			`t.yaml:3:53: workers[0].postgres: is missing: citusgen cannot tell which PostgreSQL major "citusdata/citus@sha256:aaaa`},
		{"image none", "image: none\n" + twoNodes, 0, 0, `t.yaml:1:8: image: is none: the nodes it covers run from no image (a server from packages or a virtual machine), so they have no compose service; give them an image to render compose (render settings, render sql, bootstrap and verify need none)`},
		{"one node none", "password: p\n" + minimal + "workers: [{service: w, alias: w, port: 6001, image: none}]\n", 18, 0, `t.yaml:3:53: workers[0].image: is none`},
	} {
		t.Run(c.name, func(t *testing.T) {
			top, err := parseSpec([]byte(c.spec))
			if err != nil {
				t.Fatal(err)
			}
			if top.Coordinator.Postgres != c.coord || top.Workers[0].Postgres != c.wkr {
				t.Errorf("majors %d, %d; want %d, %d", top.Coordinator.Postgres, top.Workers[0].Postgres, c.coord, c.wkr)
			}
			cerr := top.ComposeErrors()
			switch {
			case c.composeError == "" && cerr != nil:
				t.Errorf("compose refused: %v", cerr)
			case c.composeError != "" && (cerr == nil || !strings.HasPrefix(cerr.Error(), c.composeError)):
				t.Errorf("compose error:\n%v\nwant:\n%s", cerr, c.composeError)
			}
		})
	}
}

// Keys that contradict what an image says, or cannot be, are spec errors
// for every command.
func TestPostgresAndPublishErrors(t *testing.T) {
	for _, c := range []struct{ name, spec, want string }{
		{"contradicts the tag", "image: citusdata/citus:14.1\npostgres: 17\n" + twoNodes,
			"t.yaml:2:11: postgres: says PostgreSQL 17, but citusdata/citus:14.1 is a PostgreSQL 18 image; remove postgres, or name the image of PostgreSQL 17 (the citusdata/citus tags end in -pg17 for it)"},
		{"node contradicts", "password: p\n" + minimal + "workers: [{service: w, alias: w, port: 6001, image: 'citusdata/citus:13.2-pg15', postgres: 17}]\n",
			"t.yaml:3:92: workers[0].postgres: says PostgreSQL 17, but citusdata/citus:13.2-pg15 is a PostgreSQL 15 image; remove postgres, or name the image of PostgreSQL 17 (the citusdata/citus tags end in -pg17 for it)"},
		{"not a major", "image: mirror/citus:x\npostgres: 9\n" + twoNodes,
			"t.yaml:2:11: postgres: 9 is not a PostgreSQL major version such as 17 or 18 (one whole number, 10 or later)"},
		{"postgres without image", "image: none\npostgres: 17\n" + twoNodes,
			"t.yaml:2:11: postgres: goes with an image; with image: none the nodes run from no image, so remove postgres"},
		{"publish address not an IP", twoNodes + "compose: {publish_address: localhost}\n",
			`t.yaml:4:28: compose.publish_address: "localhost" is not an IP address; give the host address to publish the nodes' ports on (127.0.0.1 for this machine only, "" for every interface)`},
		{"trust on every interface", "trust_authentication: true\n" + minimal + "workers: [{service: w, alias: w, port: 6001}]\ncompose: {publish_address: ''}\n",
			"t.yaml:4:28: compose.publish_address: publishes the nodes on every interface while trust_authentication lets anyone who reaches a node in as the superuser, without a password; publish on 127.0.0.1, or give password or password_env"},
		{"trust on a LAN address", "trust_authentication: true\n" + minimal + "workers: [{service: w, alias: w, port: 6001}]\ncompose: {publish_address: 192.168.1.20}\n",
			"t.yaml:4:28: compose.publish_address: publishes the nodes on 192.168.1.20 while trust_authentication"},
		{"django host beyond loopback", twoNodes + "django: {host: db.example.com}\n",
			`t.yaml:4:16: django.host: is "db.example.com", but the nodes' ports are published on 127.0.0.1 only, which Django cannot reach there; set compose.publish_address to an address of this host that db.example.com reaches ("" for every interface), or django.host: localhost`},
		// Docker binds the one address: django.host must be it, or a name
		// for it (localhost: 127.0.0.1 or ::1).
		{"an IPv4 host, ports on ::1", twoNodes + "compose: {publish_address: '::1'}\ndjango: {host: 127.0.0.1}\n",
			`t.yaml:5:16: django.host: 127.0.0.1 does not reach the nodes: compose.publish_address (line 4, column 28) publishes their ports on ::1 only, and a connection to 127.0.0.1 never arrives there; write compose.publish_address: 127.0.0.1`},
		{"localhost, ports on 127.0.0.2", twoNodes + "compose: {publish_address: 127.0.0.2}\n",
			`t.yaml:4:28: compose.publish_address: publishes the nodes' ports on 127.0.0.2 only, where django.host (localhost, its default) does not reach: localhost is 127.0.0.1 (or ::1); write django.host: 127.0.0.2, or compose.publish_address: 127.0.0.1`},
		{"localhost written, ports on a LAN address", twoNodes + "compose: {publish_address: 192.168.1.20}\ndjango: {host: localhost}\n",
			`t.yaml:5:16: django.host: localhost does not reach the nodes: compose.publish_address (line 4, column 28) publishes their ports on 192.168.1.20 only, and localhost is 127.0.0.1 (or ::1); write django.host: 192.168.1.20, or compose.publish_address: 127.0.0.1`},
		{"another loopback address, ports on the default", twoNodes + "django: {host: 127.0.0.2}\n",
			`t.yaml:4:16: django.host: 127.0.0.2 does not reach the nodes: compose.publish_address (its default) publishes their ports on 127.0.0.1 only, and a connection to 127.0.0.2 never arrives there; write django.host: 127.0.0.1, or compose.publish_address: 127.0.0.2`},
		{"another LAN address", twoNodes + "compose: {publish_address: 10.0.0.5}\ndjango: {host: 10.0.0.6}\n",
			`t.yaml:5:16: django.host: 10.0.0.6 does not reach the nodes: compose.publish_address (line 4, column 28) publishes their ports on 10.0.0.5 only, and a connection to 10.0.0.6 never arrives there; write django.host: 10.0.0.5, or compose.publish_address: 10.0.0.6`},
		{"an IPv4 host, ports on every IPv6 address", twoNodes + "compose: {publish_address: '::'}\ndjango: {host: 127.0.0.1}\n",
			`t.yaml:5:16: django.host: 127.0.0.1 does not reach the nodes: compose.publish_address (line 4, column 28) publishes their ports on :: only, and docker binds :: to IPv6 alone, so a connection to 127.0.0.1 never arrives there; write compose.publish_address: "" (every interface, IPv4 and IPv6)`},
		{"start interval", twoNodes + "compose: {healthcheck_start_interval: soon}\n",
			`t.yaml:4:39: compose.healthcheck_start_interval: "soon" is not a duration such as 1s or 500ms`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseSpec([]byte(c.spec))
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("error:\n%v\nwant:\n%s", err, c.want)
			}
		})
	}
	// What is fine: trust on loopback, a password on every interface, a
	// host beyond loopback with an address it reaches, servers outside compose.
	for _, spec := range []string{
		"trust_authentication: true\n" + minimal + "workers: [{service: w, alias: w, port: 6001}]\n",
		twoNodes + "compose: {publish_address: ''}\n",
		twoNodes + "compose: {publish_address: '::1', healthcheck_start_interval: 500ms}\n",
		twoNodes + "django: {host: db.example.com}\ncompose: {publish_address: 10.0.0.5}\n",
		"image: none\n" + twoNodes + "django: {host: db.example.com}\n",
		twoNodes + "compose: {publish_address: 127.0.0.2}\ndjango: {host: 127.0.0.2}\n",
		twoNodes + "compose: {publish_address: '0.0.0.0'}\ndjango: {host: 127.0.0.2}\n",
		twoNodes + "compose: {publish_address: ''}\ndjango: {host: 10.0.0.6}\n",
		twoNodes + "compose: {publish_address: 10.0.0.5}\ndjango: {host: 10.0.0.5}\n",
		twoNodes + "compose: {publish_address: '::1'}\ndjango: {host: LOCALHOST}\n",
		twoNodes + "compose: {publish_address: '::'}\n",
		twoNodes + "compose: {publish_address: 127.0.0.2}\ndjango: {host: 127.0.0.1, reaches: network}\n",
		"image: none\n" + twoNodes + "compose: {publish_address: '::1'}\ndjango: {host: 127.0.0.1}\n",
	} {
		if _, err := parseSpec([]byte(spec)); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
	}
}

func TestPublishedPort(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1": "127.0.0.1:${CITUS_W_EXTERNAL_PORT:-6001}:5432",
		"":          "${CITUS_W_EXTERNAL_PORT:-6001}:5432",
		"::1":       "[::1]:${CITUS_W_EXTERNAL_PORT:-6001}:5432",
	} {
		top, err := parseSpec([]byte(twoNodes + "compose: {publish_address: '" + addr + "'}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := top.PublishedPort(top.Workers[0]); got != want {
			t.Errorf("%q: %s, want %s", addr, got, want)
		}
	}
}
