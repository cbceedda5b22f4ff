package composefile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/internal/yamldoc"
)

// Included is a compose file that another one pulls in with include:, and
// what it defines at the top level.
type Included struct {
	Path string // as docker compose resolves it
	By   string // the file whose include: names it
	Line int    // the line of that entry in By
	// Defines holds the names each top-level section (services, volumes,
	// configs, ...) of the file defines, with the line of each.
	Defines map[string][]Definition
}

// Definition is one name a section of a compose file defines.
type Definition struct {
	Name string
	Line int
}

// Includes follows the include: entries of the compose file at path (data
// its bytes), and those of the files they include, as docker compose
// resolves them: a relative path from the including project's directory,
// ${VAR} from the environment docker compose would use (Env).
func Includes(path string, data []byte) ([]Included, error) {
	if !mentionsKey(data, "include") {
		return nil, nil // the common case reads no environment
	}
	dir := filepath.Dir(path)
	env, err := Env(dir, path)
	if err != nil {
		return nil, err
	}
	f := &includeFollower{env: env, seen: map[string]bool{filepath.Clean(path): true}}
	f.follow(path, dir, data)
	return f.out, nil
}

type includeFollower struct {
	env  map[string]string
	seen map[string]bool // files followed already: include cycles end here
	out  []Included
}

// follow reads the include: entries of one file (at path, its project
// directory dir) and follows each file they name.
func (f *includeFollower) follow(path, dir string, data []byte) {
	for _, doc := range documents(data) {
		entries := yamldoc.Value(doc, "include")
		if entries == nil || entries.Kind != yaml.SequenceNode {
			continue
		}
		for _, e := range entries.Content {
			f.entry(path, dir, yamldoc.Resolve(e))
		}
	}
}

// entry follows one include entry: a path, or a mapping whose path is one
// path or a list (the first the main file, the others overrides, all
// resolved from the including directory).
func (f *includeFollower) entry(by, dir string, e *yaml.Node) {
	var paths []*yaml.Node
	projectDir := ""
	switch e.Kind {
	case yaml.ScalarNode:
		paths = []*yaml.Node{e}
	case yaml.MappingNode:
		p := yamldoc.Value(e, "path")
		if p != nil && p.Kind == yaml.SequenceNode {
			paths = p.Content
		} else if p != nil {
			paths = []*yaml.Node{p}
		}
		if pd := yamldoc.Value(e, "project_directory"); pd != nil && pd.Kind == yaml.ScalarNode {
			projectDir = f.interpolate(pd.Value)
		}
	}
	for i, pn := range paths {
		pn = yamldoc.Resolve(pn)
		if pn.Kind != yaml.ScalarNode {
			continue
		}
		p := f.interpolate(pn.Value)
		if p == "" || strings.Contains(p, "://") || strings.HasPrefix(p, "git@") {
			continue // remote: not read here
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		p = filepath.Clean(p)
		if f.seen[p] {
			continue
		}
		f.seen[p] = true
		data, err := os.ReadFile(p)
		if err != nil {
			continue // compose-go's load reports it
		}
		f.out = append(f.out, Included{Path: p, By: by, Line: pn.Line, Defines: definitions(data)})
		if i > 0 {
			continue // an override file: its includes are the main file's project's
		}
		// The included project's own includes resolve from its directory.
		sub := filepath.Dir(p)
		if projectDir != "" {
			sub = projectDir
			if !filepath.IsAbs(sub) {
				sub = filepath.Join(dir, sub)
			}
		}
		f.follow(p, sub, data)
	}
}

func (f *includeFollower) interpolate(s string) string {
	out, err := template.Substitute(s, func(name string) (string, bool) {
		v, ok := f.env[name]
		return v, ok
	})
	if err != nil {
		return s
	}
	return out
}

// definitions lists the names each top-level section of a compose file
// defines.
func definitions(data []byte) map[string][]Definition {
	out := map[string][]Definition{}
	for _, doc := range documents(data) {
		for _, section := range []string{"services", "volumes", "networks", "configs", "secrets"} {
			m := yamldoc.Value(doc, section)
			if m == nil || m.Kind != yaml.MappingNode {
				continue
			}
			for i := 0; i+1 < len(m.Content); i += 2 {
				out[section] = append(out[section], Definition{m.Content[i].Value, m.Content[i].Line})
			}
		}
	}
	return out
}

// documents parses every YAML document of a compose file (docker compose
// merges them); a file that does not parse gives what parsed before the
// error, compose-go's load reporting the rest.
func documents(data []byte) []*yaml.Node {
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err != nil { // io.EOF after the last
			return docs
		}
		if len(doc.Content) > 0 {
			docs = append(docs, doc.Content[0])
		}
	}
}

// mentionsKey: word appears followed by a colon (quotes and blanks between
// allowed), as a mapping key of it would; a superset of the real keys.
func mentionsKey(data []byte, word string) bool {
	for rest := data; ; {
		i := bytes.Index(rest, []byte(word))
		if i < 0 {
			return false
		}
		rest = rest[i+len(word):]
		after := bytes.TrimLeft(rest, "\"' \t")
		if len(after) > 0 && after[0] == ':' {
			return true
		}
	}
}
