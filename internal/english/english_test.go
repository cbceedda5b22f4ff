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

func TestBytes(t *testing.T) {
	for b, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB", 1 << 62: "4.0 EiB"} {
		if got := english.Bytes(b); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", b, got, want)
		}
	}
}
