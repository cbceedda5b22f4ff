package main

import (
	"strings"
	"testing"

	"github.com/aymanbagabas/go-udiff"

	"github.com/citusgen/citusgen/settingsfile"
)

// TestHunkLines: an annotation lands on the lines a hunk removes or
// replaces, or, for a pure addition, on the line it goes before (the last
// line when it goes at the end).
func TestHunkLines(t *testing.T) {
	for _, tc := range []struct {
		name, actual, want string
		lines              []settingsfile.Range
	}{
		{"replace", "a\nb\nc\n", "a\nB\nc\n", []settingsfile.Range{{Start: 2, End: 2}}},
		{"delete two", "a\nb\nc\nd\n", "a\nd\n", []settingsfile.Range{{Start: 2, End: 3}}},
		{"add at the start", "a\nb\n", "z\na\nb\n", []settingsfile.Range{{Start: 1, End: 1}}},
		{"add in the middle", "a\nb\nc\n", "a\nb\nx\nc\n", []settingsfile.Range{{Start: 3, End: 3}}},
		{"add at the end", "a\nb\n", "a\nb\nc\n", []settingsfile.Range{{Start: 2, End: 2}}},
		{"no final newline", "a\nb", "a\nc", []settingsfile.Range{{Start: 2, End: 2}}},
		{"to an empty file", "", "a\n", []settingsfile.Range{{Start: 1, End: 1}}},
		{"two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\nY\n12\n", []settingsfile.Range{{Start: 2, End: 2}, {Start: 11, End: 11}}},
	} {
		u, err := udiff.ToUnifiedDiff("f", "g", tc.actual, udiff.Lines(tc.actual, tc.want), udiff.DefaultContextLines)
		if err != nil {
			t.Fatal(err)
		}
		total := strings.Count(tc.actual, "\n")
		if len(u.Hunks) != len(tc.lines) {
			t.Fatalf("%s: %d hunks, want %d", tc.name, len(u.Hunks), len(tc.lines))
		}
		for i, h := range u.Hunks {
			if got, _ := hunkLines(h, total); got != tc.lines[i] {
				t.Errorf("%s: hunk %d at %v, want %v", tc.name, i, got, tc.lines[i])
			}
		}
	}
}

func TestAnnotation(t *testing.T) {
	t.Setenv("GITHUB_WORKSPACE", "/repo")
	got := annotation("/repo/docker/a,b:c.yml", settingsfile.Range{Start: 3, End: 5}, "100% off\nnext line\r")
	want := "::error file=docker/a%2Cb%3Ac.yml,line=3,endLine=5,title=citusgen check::100%25 off%0Anext line%0D"
	if got != want {
		t.Errorf("annotation:\n got %s\nwant %s", got, want)
	}
	if got := annotation("/elsewhere/x.py", settingsfile.Range{}, "m"); got != "::error file=/elsewhere/x.py,title=citusgen check::m" {
		t.Errorf("outside the workspace, no lines: %s", got)
	}
}
