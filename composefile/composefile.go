// Package composefile loads compose documents with compose-go, as docker
// compose would: the documents citusgen renders (the tests load every one)
// and the users' compose files it edits or reads (render --into, check).
// It is to compose files what package settingsfile is to Django settings:
// the one place that reads them, in their tool's own terms.
package composefile

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/citusgen/citusgen/topology"
)

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
