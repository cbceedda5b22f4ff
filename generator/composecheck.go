package generator

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/errdefs"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/citusgen/citusgen/topology"
)

// LoadCompose loads a compose document through compose-go with validation
// on, interpolating ${...} from env (unset variables become empty, as in
// docker compose). It is how citusgen checks every document it emits or reads.
func LoadCompose(ctx context.Context, filename string, data []byte, env map[string]string) (*types.Project, error) {
	return LoadComposeIn(ctx, "/", filename, data, env)
}

// PrepareValidation compiles compose-go's JSON Schema in the background:
// the first load of a process otherwise spends most of its time there, and
// a caller that will load a document later overlaps it with its other work.
func PrepareValidation() {
	go schema.Validate(map[string]any{})
}

// LoadComposeIn is LoadCompose for a file in dir, against which its relative
// paths (env_file, bind mounts, build contexts) resolve.
func LoadComposeIn(ctx context.Context, dir, filename string, data []byte, env map[string]string) (*types.Project, error) {
	p, err := load(ctx, dir, filename, data, env, false)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid compose document: %w", filename, err)
	}
	return p, nil
}

// CheckEnv is env for validating a document rendered from t: the spec's
// password variable is given a stand-in when unset, because the document
// requires it (${VAR:?...}) and its absence now says nothing about the file.
func CheckEnv(t *topology.Topology, env map[string]string) map[string]string {
	out := make(map[string]string, len(env)+1)
	for k, v := range env {
		out[k] = v
	}
	if _, ok := out[t.PasswordEnv]; t.PasswordEnv != "" && !ok {
		out[t.PasswordEnv] = "citusgen-validation-stand-in"
	}
	return out
}

// CheckRendered loads a document citusgen rendered from t, as every emitted
// document must load.
func CheckRendered(ctx context.Context, t *topology.Topology, name string, doc []byte) error {
	if _, err := LoadCompose(ctx, name, doc, CheckEnv(t, nil)); err != nil {
		return fmt.Errorf("internal error, please report it: the rendered compose document does not load: %w", err)
	}
	return nil
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

// ComposeEnv is the environment docker compose would interpolate a compose
// file in dir with: the process environment, then the .env file beside the
// file for variables the process does not set (COMPOSE_DISABLE_ENV_FILE
// honoured), through compose-go's own project options.
func ComposeEnv(dir, filename string) (map[string]string, error) {
	o, err := cli.NewProjectOptions([]string{filepath.Join(dir, filepath.Base(filename))},
		cli.WithWorkingDirectory(dir), cli.WithOsEnv, cli.WithEnvFiles(), cli.WithDotEnv)
	if err != nil {
		return nil, fmt.Errorf("reading the environment for %s: %w", filename, err)
	}
	return o.Environment, nil
}

// ComposeProblems lists every problem compose finds in a document, not only
// the first: a document that does not parse or fails the schema is one
// problem; otherwise each reference to an undefined volume, network,
// config, secret or service is one, and any other consistency error
// compose-go reports is added. The messages are compose-go's, so that the
// same problem before and after a change compares equal.
func ComposeProblems(ctx context.Context, dir, filename string, data []byte, env map[string]string) []string {
	// The common case, a valid document, costs one load.
	if _, err := load(ctx, dir, filename, data, env, false); err == nil {
		return nil
	}
	p, err := load(ctx, dir, filename, data, env, true)
	if err != nil {
		return []string{problemText(err)}
	}
	var out []string
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		for _, n := range sortedKeys(s.Networks) {
			if _, ok := p.Networks[n]; !ok {
				out = append(out, fmt.Sprintf("service %q refers to undefined network %s", s.Name, n))
			}
		}
		for _, dep := range sortedKeys(s.DependsOn) {
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
