package citus

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/distribution/reference"
)

// Where an image keeps its data follows from its PostgreSQL major: the
// postgres images (and so the citus images built on them) up to 17 set
// PGDATA to /var/lib/postgresql/data and declare that directory a volume;
// from 18 they keep data in /var/lib/postgresql/MAJOR/docker, declare
// /var/lib/postgresql the volume, and their entrypoint exits 1 when
// anything is mounted at /var/lib/postgresql/data (docker-library/postgres
// #1259).
const (
	// LayoutMajor is the first major with the new layout.
	LayoutMajor = 18
	dataDirOld  = "/var/lib/postgresql/data"
	dataDirNew  = "/var/lib/postgresql"
)

// DataVolume is the directory an image of PostgreSQL major declares as its
// volume: where a node's data volume is mounted.
func DataVolume(major int) string {
	if major >= LayoutMajor {
		return dataDirNew
	}
	return dataDirOld
}

// DataVolumes are the data-volume targets of every layout, for readers of
// compose files written for either.
var DataVolumes = []string{dataDirOld, dataDirNew}

// Repository is the published citus image's repository on Docker Hub, the
// only one whose tags citusgen can place on a PostgreSQL major.
const Repository = "citusdata/citus"

// pgMajors is the PostgreSQL major of the published citusdata/citus tags
// without a -pgNN suffix, by Citus release (from citusdata/docker: the
// FROM line of the Dockerfile each release was published with). A moving
// tag (MAJOR.MINOR or MAJOR) is what a pull gives today: the major of the
// last release it named. Releases before 7.1 ran PostgreSQL 9.6, whose
// major is not a whole number; they are left to the spec.
var pgMajors = []struct {
	citusMajor, citusMinor int
	pg                     int
}{
	{7, 1, 10}, {7, 2, 10}, {7, 3, 10}, {7, 4, 10}, {7, 5, 10},
	{8, 0, 11}, {8, 1, 11}, {8, 2, 11}, {8, 3, 11},
	{9, 0, 12}, {9, 1, 12}, {9, 2, 12}, {9, 3, 12}, {9, 4, 12},
	{9, 5, 13}, {10, 0, 13}, {10, 1, 13},
	{10, 2, 14}, {11, 0, 14},
	{11, 1, 15}, {11, 2, 15}, {11, 3, 15}, {12, 0, 15},
	{12, 1, 16},
	{13, 0, 17}, {13, 1, 17}, {13, 2, 17},
	{14, 0, 18}, {14, 1, 18},
}

// pgPatchMajors are the releases published on another major than the last
// release of their minor: 11.1.1 and 11.1.2 came before 11.1's move to 15.
var pgPatchMajors = map[[3]int]int{
	{11, 1, 1}: 14, {11, 1, 2}: 14,
}

var citusTag = regexp.MustCompile(`^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-pg(\d+))?(-alpine)?$`)

// ImagePostgres is the PostgreSQL major a published citusdata/citus tag
// carries: 14.1 and 14 are 18, 14.1-pg17 is 17, 13.2 is 17, 13.2-pg15 is
// 15, 8.1.1 is 11; -alpine variants follow the same majors. A future minor
// of the newest Citus major in the table follows its latest (14.2 is 18,
// until a release says otherwise). ok is false for what citusgen cannot
// place: another repository or registry (a mirror may rebuild on another
// base), a digest, latest or another word, a release not in the table.
func ImagePostgres(image string) (major int, ok bool) {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil || reference.Domain(ref) != "docker.io" || reference.Path(ref) != Repository {
		return 0, false
	}
	if _, digested := ref.(reference.Digested); digested {
		return 0, false // the digest decides what runs, not the tag
	}
	tagged, isTagged := ref.(reference.Tagged)
	if !isTagged {
		return 0, false // latest
	}
	m := citusTag.FindStringSubmatch(tagged.Tag())
	if m == nil {
		return 0, false
	}
	if m[4] != "" {
		pg, _ := strconv.Atoi(m[4])
		return pg, pg >= 10
	}
	cm, _ := strconv.Atoi(m[1])
	minor := -1
	if m[2] != "" {
		minor, _ = strconv.Atoi(m[2])
	}
	if m[3] != "" {
		patch, _ := strconv.Atoi(m[3])
		if pg, ok := pgPatchMajors[[3]int{cm, minor, patch}]; ok {
			return pg, true
		}
	}
	newest := pgMajors[len(pgMajors)-1]
	pg := 0
	for _, r := range pgMajors {
		if r.citusMajor == cm && (minor < 0 || r.citusMinor == minor) {
			pg = r.pg // the last match: a moving tag's latest release
		}
	}
	if pg == 0 && cm == newest.citusMajor && minor > newest.citusMinor {
		pg = newest.pg
	}
	return pg, pg != 0
}

// ImageRelease is the Citus release (MAJOR.MINOR) a published
// citusdata/citus tag carries, and its tag without the -pgNN suffix:
// 13.2-pg15 is release 13.2 of tag "13.2". ok is false where ImagePostgres
// cannot place the image, or the tag names a major alone (14).
func ImageRelease(image string) (release string, ok bool) {
	if _, placed := ImagePostgres(image); !placed {
		return "", false
	}
	ref, _ := reference.ParseNormalizedNamed(image)
	m := citusTag.FindStringSubmatch(ref.(reference.Tagged).Tag())
	if m[2] == "" {
		return "", false
	}
	return m[1] + "." + m[2], true
}

// ImageFor is the citusdata/citus tag of release on PostgreSQL major:
// the plain tag where the release's last build is that major, the -pgNN
// variant where Citus builds that release for it, ok false where it does
// not (supportedMajors). The -alpine variants are not considered.
func ImageFor(release string, major int) (string, bool) {
	plain := Repository + ":" + release
	if pg, ok := ImagePostgres(plain); ok && pg == major {
		return plain, true
	}
	var cm int
	if _, err := fmt.Sscanf(release, "%d.", &cm); err != nil {
		return "", false
	}
	for _, m := range supportedMajors[cm] {
		if m == major {
			return fmt.Sprintf("%s-pg%d", plain, major), true
		}
	}
	return "", false
}

// supportedMajors are the PostgreSQL majors each Citus major line is built
// for (Citus's release notes; citusdata/docker publishes a -pgNN tag for
// the older ones).
var supportedMajors = map[int][]int{
	11: {13, 14, 15},
	12: {14, 15, 16},
	13: {15, 16, 17},
	14: {16, 17, 18},
}
