package citus

import "testing"

// Which images are Citus's and which the membership manager's, as import
// and --adopt tell them apart: by repository, in any registry, whatever
// the tag or digest.
func TestImageKinds(t *testing.T) {
	for image, want := range map[string][2]bool{ // citus, manager
		"citusdata/citus:14.1": {true, false},
		"citus":                {true, false},
		"registry.example.com:5000/mirror/citus:12.1":     {true, false},
		"citusdata/citus@sha256:" + sixtyFourZeros():      {true, false},
		"citusdata/membership-manager:0.2.0":              {false, true},
		"docker.io/citusdata/membership-manager":          {false, true},
		"mirror.example.com/citusdata/membership-manager": {false, true},
		"postgres:15":           {false, false},
		"citusdata/citus-tools": {false, false},
		"Not A Reference":       {false, false},
	} {
		if got := [2]bool{IsCitusImage(image), IsManagerImage(image)}; got != want {
			t.Errorf("%s: citus, manager = %v, want %v", image, got, want)
		}
	}
}
