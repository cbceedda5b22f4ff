package regions_test

import (
	"context"

	"github.com/citusgen/citusgen/regions"
	"github.com/citusgen/citusgen/topology"
)

// composeMerged and settingsMerged are the merges with their result split
// into the merged bytes and what was adopted, as most tests look at them.
func composeMerged(existing []byte, t *topology.Topology, opts regions.MergeOptions) ([]byte, []regions.Adopted, error) {
	m, err := regions.MergeComposeFile(existing, t, opts)
	if err != nil {
		return nil, nil, err
	}
	return m.Data, m.Adopted, nil
}

func settingsMerged(ctx context.Context, existing []byte, t *topology.Topology, opts regions.MergeOptions) ([]byte, []regions.Adopted, error) {
	m, err := regions.MergeSettingsFile(ctx, existing, t, opts)
	if err != nil {
		return nil, nil, err
	}
	return m.Data, m.Adopted, nil
}
