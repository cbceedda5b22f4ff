package upgrade

import (
	"strings"
	"testing"
)

func TestRoute(t *testing.T) {
	for _, tc := range []struct {
		from, to, via string
		want          string // legs as kind:from>to, space-separated
	}{
		{"citusdata/citus:13.2", "citusdata/citus:14.0-pg17", "", "citus:13.2>14.0-pg17"},
		{"citusdata/citus:13.2-pg15", "citusdata/citus:13.2", "", "postgres:13.2-pg15>13.2"},
		{"citusdata/citus:14.0-pg17", "citusdata/citus:14.0", "", "postgres:14.0-pg17>14.0"},
		// Both: Citus 14 has a PostgreSQL 17 build, so the Citus leg first.
		{"citusdata/citus:13.2", "citusdata/citus:14.1", "", "citus:13.2>14.1-pg17 postgres:14.1-pg17>14.1"},
		// Citus 14 has no PostgreSQL 15 build: PostgreSQL first, on 13.2 (17).
		{"citusdata/citus:13.2-pg15", "citusdata/citus:14.0-pg17", "", "postgres:13.2-pg15>13.2 citus:13.2>14.0-pg17"},
		{"citusdata/citus:13.2-pg15", "citusdata/citus:14.0", "citusdata/citus:14.0-pg16", "postgres:13.2-pg15>13.2-pg16 citus:13.2-pg16>14.0-pg16 postgres:14.0-pg16>14.0"},
		{"citusdata/citus:14.0", "citusdata/citus:14.0", "", ""},
	} {
		legs, err := Route(ImageOf(tc.from, 0), ImageOf(tc.to, 0), tc.via)
		if err != nil {
			t.Errorf("%s -> %s: %v", tc.from, tc.to, err)
			continue
		}
		var got []string
		for _, l := range legs {
			got = append(got, l.Kind+":"+tag(l.From.Name)+">"+tag(l.To.Name))
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s -> %s: %s, want %s", tc.from, tc.to, g, tc.want)
		}
	}
}

func TestRouteRefuses(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{"citusdata/citus:14.0", "citusdata/citus:14.0-pg17", "later major only"},
		{"citusdata/citus:11.3", "citusdata/citus:14.0", "no citusdata/citus image runs Citus 14.0 on PostgreSQL 15 or Citus 11.3 on PostgreSQL 18"},
		{"registry.example.com/citus:1", "citusdata/citus:14.0", "cannot tell which PostgreSQL major registry.example.com/citus:1 runs"},
	} {
		_, err := Route(ImageOf(tc.from, 0), ImageOf(tc.to, 0), "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s -> %s: %v, want %q", tc.from, tc.to, err, tc.want)
		}
	}
}

func tag(image string) string { return image[strings.LastIndexByte(image, ':')+1:] }
