package regions_test

import (
	"strings"
	"testing"

	"github.com/citusgen/citusgen/regions"
	"github.com/citusgen/citusgen/topology"
)

// The old image is read as compose reads it: through anchors and merge
// keys, with variables from the environment; an image citusgen cannot place
// is judged by where it mounts its data.
func TestMajorChanges(t *testing.T) {
	top, err := topology.Parse("t.yaml", []byte("password: p\ncoordinator: {service: c, alias: c, port: 6000}\nworkers: [{service: w1, alias: w1, port: 6001}, {service: w2, port: 6002}, {service: w3, port: 6003}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	file := `x-node: &node
  image: citusdata/citus:14.0-pg17
services:
  c:
    <<: *node
  w1:
    image: citusdata/citus:${CITUS_TAG:-14.1}
  w2:
    image: mirror/citus:custom
    volumes:
      - type: volume
        source: w2
        target: /var/lib/postgresql/data/
  w3:
    image: mirror/citus:custom
    volumes: ["${VOLUME_PREFIX:-}w3:/var/lib/postgresql:rw"]
  web:
    image: citusdata/citus:9.0
`
	var got []string
	for _, c := range regions.MajorChanges([]byte(file), top, map[string]string{"CITUS_TAG": "13.2-pg15"}) {
		got = append(got, c.Describe())
	}
	want := []string{
		"c: citusdata/citus:14.0-pg17 (PostgreSQL 17) becomes citusdata/citus:14.1 (PostgreSQL 18)",
		"w1: citusdata/citus:13.2-pg15 (PostgreSQL 15) becomes citusdata/citus:14.1 (PostgreSQL 18)",
		"w2: mirror/citus:custom (its data at /var/lib/postgresql/data) becomes citusdata/citus:14.1 (PostgreSQL 18)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
