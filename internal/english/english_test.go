package english_test

import (
	"testing"

	"github.com/citusgen/citusgen/internal/english"
)

func TestPlural(t *testing.T) {
	for n, want := range map[int64]string{0: "0 shards", 1: "1 shard", 2: "2 shards"} {
		if got := english.Plural(n, "shard"); got != want {
			t.Errorf("Plural(%d) = %q", n, got)
		}
	}
}
