package generator

import (
	"context"
	"fmt"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// LoadCompose loads a compose document through compose-go with validation
// on, interpolating ${...} from env (unset variables become empty, as in
// docker compose). It is how citusgen checks every document it emits or reads.
func LoadCompose(ctx context.Context, filename string, data []byte, env map[string]string) (*types.Project, error) {
	return LoadComposeIn(ctx, "/", filename, data, env)
}

// LoadComposeIn is LoadCompose for a file in dir, against which its relative
// paths (env_file, bind mounts, build contexts) resolve.
func LoadComposeIn(ctx context.Context, dir, filename string, data []byte, env map[string]string) (*types.Project, error) {
	if env == nil {
		env = map[string]string{}
	}
	p, err := loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filename, Content: data}},
		Environment: env,
	}, func(o *loader.Options) {
		o.SetProjectName("citusgen", true)
	})
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid compose document: %w", filename, err)
	}
	return p, nil
}
