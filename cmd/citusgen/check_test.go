package main

import (
	"os"
	"path/filepath"
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
	// The text is the hunk as a unified diff shows it, without the file lines.
	u, _ := udiff.ToUnifiedDiff("f", "g", "a\nb", udiff.Lines("a\nb", "a\nc"), udiff.DefaultContextLines)
	if _, text := hunkLines(u.Hunks[0], 2); text != "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file" {
		t.Errorf("hunk text %q", text)
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

// check compares the two files with each other as docker compose reads the
// compose file, .env included.
func TestCheckComparesTheFiles(t *testing.T) {
	dir := t.TempDir()
	compose, settings := defaultFiles(t, dir)
	args := []string{"check", "--compose", compose, "--settings", settings}
	if code, out, errOut := runCLI(t, nil, args...); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}

	// The .env beside the compose file moves the coordinator's port.
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("CITUS_MASTER_EXTERNAL_PORT=6000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, nil, args...)
	want := `drift: ` + settings + ` DATABASES["icds-ucr"] PORT is "5600" but ` + compose + ` publishes citus_master as 6000`
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("port moved by .env: exit %d, want 1 and %q:\n%s%s", code, want, out, errOut)
	}
	if err := os.Remove(filepath.Join(dir, ".env")); err != nil {
		t.Fatal(err)
	}

	// A hand-written service that compose refuses: check says why the files
	// could not be compared.
	data, err := os.ReadFile(compose)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), "  web:\n", "  web:\n    restart: 5\n", 1)
	if err := os.WriteFile(compose, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, nil, args...)
	if code != 0 || !strings.Contains(errOut, "note: could not compare the two files with each other") || !strings.Contains(errOut, "services.web.restart must be a string") {
		t.Errorf("with an invalid service: exit %d, want 0 and a note naming the problem:\n%s%s", code, out, errOut)
	}
}
