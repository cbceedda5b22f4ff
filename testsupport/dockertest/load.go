package dockertest

import (
	"context"
	"fmt"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// Load loads a compose document through compose-go as docker compose
// would, with validation and consistency checks on, interpolating ${...}
// from env (unset variables become empty): how the tests prove that every
// document citusgen emits or merges loads, without a compose project.
func Load(ctx context.Context, filename string, data []byte, env map[string]string) (*types.Project, error) {
	if env == nil {
		env = map[string]string{}
	}
	p, err := loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  "/",
		ConfigFiles: []types.ConfigFile{{Filename: filename, Content: data}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("citusgen", true) })
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid compose document: %w", filename, err)
	}
	return p, nil
}
