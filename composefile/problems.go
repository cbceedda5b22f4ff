package composefile

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/errdefs"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/citusgen/citusgen/topology"
)

// ChangeProblems loads the compose file at path before and after a change
// citusgen makes to it, as docker compose would (the process environment
// and the .env beside the file; the spec's password variable, which the
// rendered services require, gets a stand-in when unset): introduced are
// the problems the change would bring in, had those the file already had.
// A change that brings in none costs one load.
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

// Problems lists every problem compose finds in a document, not only
// the first: a document that does not parse or fails the schema is one
// problem; otherwise each reference to an undefined volume, network,
// config, secret or service is one, and any other consistency error
// compose-go reports is added. The messages are compose-go's, so that the
// same problem before and after a change compares equal.
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
