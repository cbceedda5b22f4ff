package atomicfile

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// A temporary file is named .<base>.tmp-<digits> beside the file it
// replaces (os.CreateTemp's random part is decimal digits). It holds what
// the file will hold, the password included.
func tempPattern(final string) string { return "." + filepath.Base(final) + ".tmp-*" }

func tempRE(final string) *regexp.Regexp {
	return regexp.MustCompile(`^\.` + regexp.QuoteMeta(filepath.Base(final)) + `\.tmp-[0-9]+$`)
}

// inFlight holds the temporary files being written, for RemoveTemps.
var inFlight sync.Map

func created(f *os.File)  { inFlight.Store(f.Name(), struct{}{}) }
func settled(name string) { inFlight.Delete(name) }

// RemoveTemps removes the temporary files of every write in flight: a
// process that must exit at once (a second signal) leaves none behind.
func RemoveTemps() {
	inFlight.Range(func(k, _ any) bool {
		os.Remove(k.(string))
		inFlight.Delete(k)
		return true
	})
}

// StaleAge is how old a leftover temporary file must be before a later
// write to the same file removes it. A write takes seconds even for a file
// of tens of megabytes, so a younger one may be another citusgen's write in
// progress, whose rename would fail without it. A leftover has the owner
// and mode of the file it was to replace, so it is no more exposed than
// that file is meanwhile.
const StaleAge = 10 * time.Minute

// RemoveStale removes the temporary files an interrupted citusgen left
// beside path (symlinks resolved, as Replace resolves them): only names of
// citusgen's exact pattern, only regular files owned by the current user
// or by path's owner (citusgen gives a replacement the owner of the file
// it replaces), and only files older than StaleAge. It returns the names
// removed; a file it cannot remove is left, without an error.
func RemoveStale(path string) []string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	owners := map[uint32]bool{uint32(os.Geteuid()): true}
	if fi, err := os.Stat(path); err == nil {
		owners[fi.Sys().(*syscall.Stat_t).Uid] = true
	}
	re := tempRE(path)
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if !re.MatchString(e.Name()) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(name)
		if err != nil || !fi.Mode().IsRegular() || time.Since(fi.ModTime()) < StaleAge || !owners[fi.Sys().(*syscall.Stat_t).Uid] {
			continue
		}
		if _, mine := inFlight.Load(name); mine {
			continue
		}
		if os.Remove(name) == nil {
			removed = append(removed, name)
		}
	}
	return removed
}

// writeChunked writes data to f a few megabytes at a time, stopping when
// ctx is canceled: a signal need not wait for a large file's write.
func writeChunked(ctx context.Context, f io.Writer, data []byte) error {
	const chunk = 4 << 20
	for len(data) > 0 {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		n := min(chunk, len(data))
		if _, err := f.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
