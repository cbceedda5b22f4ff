package citus

import "testing"

// The release an image tag names, for the citus images' tag forms; other
// repositories, floating tags and digests name none.
func TestImageVersion(t *testing.T) {
	for image, want := range map[string][3]int{ // major, minor, ok
		"citusdata/citus:14.1":                            {14, 1, 1},
		"citusdata/citus:13.2.2":                          {13, 2, 1},
		"citusdata/citus:8.1.1":                           {8, 1, 1},
		"citusdata/citus:13":                              {13, -1, 1},
		"registry.example.com/citus/citus:12.1.5-pg15":    {12, 1, 1},
		"localhost:5000/citus:14.0-alpine":                {14, 0, 1},
		"citusdata/citus:13.2@sha256:" + sixtyFourZeros(): {13, 2, 1},
		"citusdata/citus":                                 {},
		"citusdata/citus:latest":                          {},
		"citusdata/citus:alpine":                          {},
		"citusdata/membership-manager:0.3.0":              {},
		"postgres:15":                                     {},
		"citusdata/citus@sha256:" + sixtyFourZeros():      {},
		"Not A Reference":                                 {},
	} {
		major, minor, ok := ImageVersion(image)
		got := [3]int{major, minor, 0}
		if ok {
			got[2] = 1
		} else {
			got = [3]int{}
		}
		if got != want {
			t.Errorf("ImageVersion(%q) = %v, want %v", image, got, want)
		}
	}
}

func sixtyFourZeros() string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

func TestSameRelease(t *testing.T) {
	for _, c := range []struct {
		ext          string
		major, minor int
		want         bool
	}{
		{"14.0-1", 14, 0, true},
		{"14.0-1", 14, 1, false},
		{"13.2-1", 14, 1, false},
		{"13.2-1", 13, -1, true},
		{"14.1-1", 13, -1, false},
	} {
		if got := SameRelease(c.ext, c.major, c.minor); got != c.want {
			t.Errorf("SameRelease(%q, %d, %d) = %v", c.ext, c.major, c.minor, got)
		}
	}
}

// The PostgreSQL major of the published citusdata/citus tags (citusdata/docker's
// Dockerfiles), and what citusgen refuses to place.
func TestImagePostgres(t *testing.T) {
	for image, want := range map[string]int{
		"citusdata/citus:14.1":           18,
		"citusdata/citus:14.0":           18,
		"citusdata/citus:14":             18,
		"citusdata/citus:14.1.0":         18,
		"citusdata/citus:14.2":           18, // a later 14.x until a release says otherwise
		"citusdata/citus:14.1-alpine":    18,
		"docker.io/citusdata/citus:14.1": 18,
		"citusdata/citus:14.1-pg17":      17,
		"citusdata/citus:14.1-pg16":      16,
		"citusdata/citus:13.2":           17,
		"citusdata/citus:13.2-pg15":      15,
		"citusdata/citus:13.2.0":         17,
		"citusdata/citus:12.1.5-pg15":    15,
		"citusdata/citus:12.1":           16,
		"citusdata/citus:12.0":           15,
		"citusdata/citus:11.1":           15,
		"citusdata/citus:11.1.2":         14, // published before 11.1 moved to 15
		"citusdata/citus:11.1.3":         15,
		"citusdata/citus:10.2":           14,
		"citusdata/citus:9.5.2":          13,
		"citusdata/citus:8.1.1":          11,
		"citusdata/citus:7.5":            10,
		// what citusgen cannot place: the spec says it
		"citusdata/citus:7.0.3":                           0, // PostgreSQL 9.6
		"citusdata/citus:15.0":                            0, // a future major
		"citusdata/citus:13.3":                            0, // no such release
		"citusdata/citus":                                 0,
		"citusdata/citus:latest":                          0,
		"citusdata/citus:alpine":                          0,
		"citusdata/citus:14.1@sha256:" + sixtyFourZeros(): 0,
		"citusdata/citus@sha256:" + sixtyFourZeros():      0,
		"registry.example.com/citusdata/citus:14.1":       0,
		"mirror/citus:14.1":                               0,
		"postgres:18":                                     0,
		"citusdata/citus:14.1-pg9":                        0,
		"Not A Reference":                                 0,
	} {
		got, ok := ImagePostgres(image)
		if !ok {
			got = 0
		}
		if got != want {
			t.Errorf("ImagePostgres(%q) = %d, want %d", image, got, want)
		}
	}
}

func TestDataVolume(t *testing.T) {
	for major, want := range map[int]string{11: "/var/lib/postgresql/data", 17: "/var/lib/postgresql/data", 18: "/var/lib/postgresql", 19: "/var/lib/postgresql"} {
		if got := DataVolume(major); got != want {
			t.Errorf("DataVolume(%d) = %s, want %s", major, got, want)
		}
	}
}
