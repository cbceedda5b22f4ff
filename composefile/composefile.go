// Package composefile loads compose documents with compose-go, as docker
// compose would.
package composefile

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/errdefs"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/internal/yamldoc"
	"github.com/citusgen/citusgen/topology"
)

// CheckEnv is env for validating a document rendered from t: the spec's
// password variable is given a stand-in when unset, because the document
// requires it (${VAR:?...}) and its absence now says nothing about the file.
func CheckEnv(t *topology.Topology, env map[string]string) map[string]string {
	out := make(map[string]string, len(env)+1)
	maps.Copy(out, env)
	if _, ok := out[t.PasswordEnv]; t.PasswordEnv != "" && !ok {
		out[t.PasswordEnv] = "citusgen-validation-stand-in"
	}
	return out
}

// LoadComposeModel loads a document without compose-go's consistency checks
// (references to undefined volumes and the like), for reading what it says
// about services that are fine themselves.
func LoadComposeModel(ctx context.Context, dir, filename string, data []byte, env map[string]string) (*types.Project, error) {
	p, err := load(ctx, dir, filename, data, env, true)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid compose document: %w", filename, err)
	}
	return p, nil
}

// Port is one port a service declares: its published side as compose
// interpolates it ("" when it is not published) and the container port.
type Port struct {
	Published string `json:"published"`
	Target    uint32 `json:"target"`
}

// ServicePorts loads a document as LoadComposeModel does and answers the
// ports of each of its services.
func ServicePorts(ctx context.Context, dir, filename string, data []byte, env map[string]string) (map[string][]Port, error) {
	p, err := LoadComposeModel(ctx, dir, filename, data, env)
	if err != nil {
		return nil, err
	}
	ports := make(map[string][]Port, len(p.Services))
	for name, s := range p.Services {
		list := []Port{}
		for _, port := range s.Ports {
			list = append(list, Port{Published: port.Published, Target: port.Target})
		}
		ports[name] = list
	}
	return ports, nil
}

func load(ctx context.Context, dir, filename string, data []byte, env map[string]string, skipConsistency bool) (*types.Project, error) {
	if env == nil {
		env = map[string]string{}
	}
	return loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filename, Content: data}},
		Environment: env,
	}, func(o *loader.Options) {
		o.SetProjectName("citusgen", true)
		o.SkipConsistencyCheck = skipConsistency
	})
}

// Env is the environment docker compose would interpolate a compose
// file in dir with: the process environment, then the .env file beside the
// file for variables the process does not set (COMPOSE_DISABLE_ENV_FILE
// honoured), through compose-go's own project options.
func Env(dir, filename string) (map[string]string, error) {
	o, err := cli.NewProjectOptions([]string{filepath.Join(dir, filepath.Base(filename))},
		cli.WithWorkingDirectory(dir), cli.WithOsEnv, cli.WithEnvFiles(), cli.WithDotEnv)
	if err != nil {
		return nil, fmt.Errorf("reading the environment for %s: %w", filename, err)
	}
	return o.Environment, nil
}

// EnvValue reads an env file as docker compose reads a .env (nothing is
// taken from the process environment) and returns the value it gives
// name, and whether it sets name at all.
func EnvValue(data []byte, name string) (value string, set bool, err error) {
	vars, err := dotenv.UnmarshalBytesWithLookup(data, noLookup)
	if err != nil {
		return "", false, err
	}
	value, set = vars[name]
	return value, set, nil
}

// NewPassword is 32 random characters of [A-Za-z0-9_-]: nothing that a
// .env file, a shell, compose's ${...} interpolation, psql's \getenv or
// Python would read differently.
func NewPassword() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cannot generate a password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ChangeProblems loads the compose file at path before and after a change
// citusgen makes to it, as docker compose would (the process environment and
// the .env beside the file; the spec's password variable, which the rendered
// services require, gets a stand-in when unset): introduced are the problems
// the change would bring in, had those the file already had.
func ChangeProblems(ctx context.Context, t *topology.Topology, path string, old, changed []byte) (introduced, had []string, err error) {
	dir := filepath.Dir(path)
	env, err := Env(dir, path)
	if err != nil {
		return nil, nil, err
	}
	env = CheckEnv(t, env)
	after := Problems(ctx, dir, path, changed, env)
	if len(after) == 0 {
		return nil, nil, nil // nothing to tell from what the file had before
	}
	before := map[string]bool{}
	for _, p := range Problems(ctx, dir, path, old, env) {
		before[p] = true
	}
	for _, p := range after {
		if before[p] {
			had = append(had, p)
		} else {
			introduced = append(introduced, p)
		}
	}
	return introduced, had, nil
}

// Problems lists every problem compose finds in a document, not only the
// first: a document that does not parse or fails the schema is one problem;
// otherwise each reference to an undefined volume, network, config, secret
// or service is one, and any other consistency error compose-go reports is
// added.
func Problems(ctx context.Context, dir, filename string, data []byte, env map[string]string) []string {
	// The common case, a valid document, costs one load.
	if _, err := load(ctx, dir, filename, data, env, false); err == nil {
		return nil
	}
	p, err := load(ctx, dir, filename, data, env, true)
	if err != nil {
		return []string{problemText(err)}
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		for _, n := range slices.Sorted(maps.Keys(s.Networks)) {
			if _, ok := p.Networks[n]; !ok {
				out = append(out, fmt.Sprintf("service %q refers to undefined network %s", s.Name, n))
			}
		}
		for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
			if _, ok := p.Services[dep]; !ok {
				out = append(out, fmt.Sprintf("service %q depends on undefined service %q", s.Name, dep))
			}
		}
		for _, v := range s.Volumes {
			if _, ok := p.Volumes[v.Source]; v.Type == types.VolumeTypeVolume && v.Source != "" && !ok {
				out = append(out, fmt.Sprintf("service %q refers to undefined volume %s", s.Name, v.Source))
			}
		}
		for _, c := range s.Configs {
			if _, ok := p.Configs[c.Source]; !ok {
				out = append(out, fmt.Sprintf("service %q refers to undefined config %s", s.Name, c.Source))
			}
		}
		for _, sec := range s.Secrets {
			if _, ok := p.Secrets[sec.Source]; !ok {
				out = append(out, fmt.Sprintf("service %q refers to undefined secret %s", s.Name, sec.Source))
			}
		}
	}
	if len(out) == 0 {
		// Whatever else compose-go checks, it reports one at a time.
		if _, err := load(ctx, dir, filename, data, env, false); err != nil {
			out = append(out, problemText(err))
		}
	}
	return out
}

func problemText(err error) string {
	return strings.TrimSuffix(err.Error(), ": "+errdefs.ErrInvalid.Error())
}

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

// SetEnvValue rewrites the last line of an env file that sets name (the
// one docker compose uses) to set it to value, keeping every other byte,
// an `export ` in front and the line's ending. The value is quoted so that
// compose reads it back exactly (single quotes, else double quotes with
// escapes); the result is read back to prove it, and to prove that no
// other variable changed. Errors never hold the value.
func SetEnvValue(data []byte, name, value string) ([]byte, error) {
	before, err := dotenv.UnmarshalBytesWithLookup(data, noLookup)
	if err != nil {
		return nil, EnvSyntax(err)
	}
	if _, ok := before[name]; !ok {
		return nil, fmt.Errorf("it does not set %s", name)
	}
	line := regexp.MustCompile(`(?m)^([ \t]*(?:export[ \t]+)?` + regexp.QuoteMeta(name) + `[ \t]*[=:][ \t]*)(.*)$`)
	locs := line.FindAllSubmatchIndex(data, -1)
	if len(locs) == 0 {
		return nil, fmt.Errorf("no line of it sets %s as NAME=VALUE", name)
	}
	last := locs[len(locs)-1]
	start, end := last[4], last[5]
	if end > start && data[end-1] == '\r' {
		end-- // CRLF: the line keeps its ending
	}
	escape := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	for _, quoted := range []string{
		"'" + strings.ReplaceAll(value, "'", `\'`) + "'",
		`"` + escape.Replace(value) + `"`,
	} {
		out := slices.Concat(data[:start], []byte(quoted), data[end:])
		after, err := dotenv.UnmarshalBytesWithLookup(out, noLookup)
		if err != nil || after[name] != value {
			continue
		}
		if after[name] = before[name]; maps.Equal(after, before) { // no other variable changed
			return out, nil
		}
	}
	return nil, fmt.Errorf("citusgen cannot write %s there so that docker compose reads it back unchanged (a value over several lines?)", name)
}

func noLookup(string) (string, bool) { return "", false }

var envProblem = regexp.MustCompile(`line (\d+): (unterminated quoted value|unexpected character)`)

// EnvSyntax is an env file's parse error without the text of its line,
// which compose-go's message quotes and which may hold a password.
func EnvSyntax(err error) error {
	if m := envProblem.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("line %s: %s (docker compose cannot read it)", m[1], m[2])
	}
	return errors.New("docker compose cannot read it as an env file")
}
