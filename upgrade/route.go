package upgrade

import (
	"fmt"
	"strings"

	"github.com/citusgen/citusgen/citus"
)

// Image is what a node runs: the image and, where its tag says them, the
// Citus release and the PostgreSQL major.
type Image struct {
	Name     string `json:"image"`
	Citus    string `json:"citus,omitempty"` // MAJOR.MINOR; "" where the tag does not say it
	Postgres int    `json:"postgres"`
}

// ImageOf places an image by its tag; postgres is the major the spec or
// the running server gave where the tag says none.
func ImageOf(name string, postgres int) Image {
	im := Image{Name: name, Postgres: postgres}
	if pg, ok := citus.ImagePostgres(name); ok {
		im.Postgres = pg
	}
	im.Citus, _ = citus.ImageRelease(name)
	return im
}

func (im Image) String() string {
	var parts []string
	if im.Citus != "" {
		parts = append(parts, "Citus "+im.Citus)
	}
	if im.Postgres != 0 {
		parts = append(parts, fmt.Sprintf("PostgreSQL %d", im.Postgres))
	}
	if len(parts) == 0 {
		return im.Name
	}
	return im.Name + " (" + strings.Join(parts, ", ") + ")"
}

// Leg kinds: a Citus leg keeps the PostgreSQL major and changes the
// release (new image, ALTER EXTENSION citus UPDATE); a PostgreSQL leg
// changes the major with pg_upgrade and keeps the release.
const (
	CitusLeg    = "citus"
	PostgresLeg = "postgres"
)

// Leg is one image change of the whole cluster.
type Leg struct {
	Kind string `json:"kind"`
	From Image  `json:"from"`
	To   Image  `json:"to"`
}

// Route is the legs from one image to another. Citus runs a release only on
// the majors it was built for (Citus 13 has no PostgreSQL 18 build, 14 none
// for 15), so a change of both goes through an image that has one of them:
// the new release on the old major when Citus publishes it (the Citus leg
// first, as Citus's guide orders it), else the old release on the new
// major. via names that middle image instead (a mirror's tags say nothing).
func Route(from, to Image, via string) ([]Leg, error) {
	if from.Name == to.Name {
		return nil, nil
	}
	if via != "" {
		mid := ImageOf(via, 0)
		if mid.Postgres == 0 {
			return nil, fmt.Errorf("--via %s: citusgen cannot tell its PostgreSQL major (only citusdata/citus tags say it); name a citusdata/citus tag", via)
		}
		a, err := Route(from, mid, "")
		if err != nil {
			return nil, err
		}
		b, err := Route(mid, to, "")
		if err != nil {
			return nil, err
		}
		return append(a, b...), nil
	}
	if from.Postgres == 0 || to.Postgres == 0 {
		return nil, fmt.Errorf("citusgen cannot tell which PostgreSQL major %s runs; give postgres: MAJOR beside it in the spec", unplaced(from, to))
	}
	if from.Postgres == to.Postgres {
		return []Leg{{Kind: CitusLeg, From: from, To: to}}, nil
	}
	if to.Postgres < from.Postgres {
		return nil, fmt.Errorf("%s runs PostgreSQL %d and %s %d: pg_upgrade moves data to a later major only; restore a backup of the older major instead", from.Name, from.Postgres, to.Name, to.Postgres)
	}
	if from.Citus == "" || to.Citus == "" || from.Citus == to.Citus {
		// A mirror's images: one pg_upgrade, and the release is whatever
		// the new image has (pg_upgrade --check names a missing library).
		return []Leg{{Kind: PostgresLeg, From: from, To: to}}, nil
	}
	if name, ok := citus.ImageFor(to.Citus, from.Postgres); ok {
		mid := ImageOf(name, 0)
		return []Leg{{Kind: CitusLeg, From: from, To: mid}, {Kind: PostgresLeg, From: mid, To: to}}, nil
	}
	if name, ok := citus.ImageFor(from.Citus, to.Postgres); ok {
		mid := ImageOf(name, 0)
		return []Leg{{Kind: PostgresLeg, From: from, To: mid}, {Kind: CitusLeg, From: mid, To: to}}, nil
	}
	return nil, fmt.Errorf("no citusdata/citus image runs Citus %s on PostgreSQL %d or Citus %s on PostgreSQL %d, so the data cannot move from %s to %s in two legs; upgrade in steps (name a middle image with --via)", to.Citus, from.Postgres, from.Citus, to.Postgres, from, to)
}

func unplaced(a, b Image) string {
	if a.Postgres == 0 {
		return a.Name
	}
	return b.Name
}
