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
