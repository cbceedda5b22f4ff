// Package english writes the small phrases citusgen's messages share, so
// that every command words a count the same way.
package english

import "fmt"

// Plural writes a count with its noun: "1 shard", "8 shards".
func Plural[N ~int | ~int64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
