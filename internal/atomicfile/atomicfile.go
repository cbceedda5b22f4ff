// Package atomicfile writes files so that readers see either the old content
// or the new, never a half-written file, and a failed write of several files
// leaves every existing file as it was.
package atomicfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// File is one file to write, its Name relative to the target directory.
type File struct {
	Name string
	Data []byte
}

// NewFileMode is the mode of the files citusgen creates: what it writes
// may hold the cluster's password (compose files, settings, specs), so only
// their owner reads them. An existing file keeps its own mode.
const NewFileMode os.FileMode = 0o600

// Write replaces path with data atomically, as WriteAll does for one file.
func Write(path string, data []byte) error {
	return WriteAll(filepath.Dir(path), []File{{Name: filepath.Base(path), Data: data}})
}

// WriteAll writes every file under dir.
func WriteAll(dir string, files []File) error {
	type pending struct{ tmp, final string }
	var done []pending
	cleanup := func(ps []pending) {
		for _, p := range ps {
			discard(p.tmp)
		}
	}
	for _, f := range files {
		final := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
			cleanup(done)
			return fmt.Errorf("cannot create directory for %s: %w", final, errors.Unwrap(err))
		}
		tmp, err := writeTemp(final, f.Data)
		if err != nil {
			cleanup(done)
			return err
		}
		done = append(done, pending{tmp, final})
	}
	for i, p := range done {
		if err := os.Rename(p.tmp, p.final); err != nil {
			cleanup(done[i:])
			return fmt.Errorf("cannot replace %s: %w", p.final, errors.Unwrap(err))
		}
		settled(p.tmp)
	}
	return nil
}

func writeTemp(final string, data []byte) (string, error) {
	mode := NewFileMode
	if st, err := os.Stat(final); err == nil {
		mode = st.Mode().Perm()
	}
	return writeTempAs(context.Background(), final, data, mode, os.Geteuid(), os.Getegid())
}

// WriteNew creates path with data, atomically, and fails with an error
// wrapping fs.ErrExist if the path exists: the file appears whole through a
// hard link, which never replaces an existing file.
func WriteNew(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	defer discard(tmp)
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	return nil
}

// Target is a user's file that citusgen reads, changes and writes back: a
// regular file, reached through any symlinks, replaced only if nobody else
// changed it in between, keeping its owner and mode.
type Target struct {
	Path string // as the user named it
	Data []byte // its content when it was read

	real string // symlinks resolved: the file that is replaced
	st   *syscall.Stat_t
	mode os.FileMode // its permissions and set-id and sticky bits, which the replacement gets
	sum  uint64      // maphash of Data: fast, and compared within this process only
	// checked: CheckWritable passed (its note, if any, is in Notes).
	checked bool
	// Notes are things the user should know about the write (a read-only
	// file replaced in their own directory).
	Notes []string
}

// UnsafeError is a target citusgen refuses to replace: not a regular file,
// not writable, linked from elsewhere.
type UnsafeError struct {
	Path string
	Msg  string
}

func (e *UnsafeError) Error() string { return e.Path + ": " + e.Msg }

// ErrChanged: the file changed between citusgen's read and its write, so
// the write was abandoned and the other writer's bytes are kept.
var ErrChanged = errors.New("changed while citusgen was working on it")

// ChangedError is ErrChanged for one file.
type ChangedError struct{ Path string }

func (e *ChangedError) Error() string {
	return fmt.Sprintf("%s %s (another program wrote it); citusgen wrote nothing: run the command again", e.Path, ErrChanged)
}

func (e *ChangedError) Unwrap() error { return ErrChanged }

// Open reads path for a later Replace.
func Open(path string) (*Target, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, lerr := os.Lstat(path); lerr == nil {
				dest, _ := os.Readlink(path)
				return nil, &UnsafeError{path, fmt.Sprintf("is a symlink to %s, which does not exist; create the file it points to, or remove the link", dest)}
			}
			return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, &UnsafeError{path, fmt.Sprintf("is %s, not a regular file; citusgen only reads and replaces regular files", kind(fi.Mode()))}
	}
	f, err := os.OpenFile(real, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	ofi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	if !ofi.Mode().IsRegular() || !os.SameFile(fi, ofi) {
		return nil, &UnsafeError{path, "was replaced while citusgen opened it; run the command again"}
	}
	// A buffer of the file's size: a large file costs one allocation, not
	// a doubling series of them.
	var buf bytes.Buffer
	buf.Grow(int(ofi.Size()) + bytes.MinRead)
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	data := buf.Bytes()
	mode := ofi.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
	return &Target{Path: path, Data: data, real: real, st: ofi.Sys().(*syscall.Stat_t), mode: mode, sum: maphash.Bytes(hashSeed, data)}, nil
}

// CheckWritable refuses a target the user could not write, except in a
// directory they own, where replacing it is theirs to do: then it only notes
// that.
func (t *Target) CheckWritable() error {
	if t.checked {
		return nil
	}
	if t.st.Nlink > 1 {
		return &UnsafeError{t.Path, fmt.Sprintf("has %d hard links; replacing it would leave the other names with the old content: make it a file of its own (cp %s %s.new && mv %s.new %s) or link with symlinks", t.st.Nlink, t.Path, t.Path, t.Path, t.Path)}
	}
	dir := filepath.Dir(t.real)
	if unix.Access(t.real, unix.W_OK) != nil {
		dst, err := os.Stat(dir)
		if err != nil || dst.Sys().(*syscall.Stat_t).Uid != uint32(os.Geteuid()) {
			return &UnsafeError{t.Path, fmt.Sprintf("is not writable for you (mode %04o, owner %s); citusgen leaves it alone: make it writable, or run as its owner", t.st.Mode&0o7777, owner(t.st.Uid))}
		}
		t.Notes = append(t.Notes, fmt.Sprintf("%s is read-only (mode %04o); citusgen replaces it because you own its directory, and keeps the mode", t.Path, t.st.Mode&0o7777))
	}
	if unix.Access(dir, unix.W_OK|unix.X_OK) != nil {
		return &UnsafeError{t.Path, fmt.Sprintf("its directory %s is not writable for you, and citusgen replaces files through a new file in the same directory (so that a failure never leaves half a file)", dir)}
	}
	t.checked = true
	return nil
}

// Replace writes data in place of the file, atomically: a temporary file in
// its directory with its owner and mode, renamed over it.
func (t *Target) Replace(data []byte) error { return t.ReplaceContext(context.Background(), data) }

// ReplaceContext is Replace, stopped by ctx: canceled before the rename,
// it removes its temporary file and leaves the file as it was.
func (t *Target) ReplaceContext(ctx context.Context, data []byte) error {
	if err := t.CheckWritable(); err != nil {
		return err
	}
	tmp, err := writeTempAs(ctx, t.real, data, t.mode, int(t.st.Uid), int(t.st.Gid))
	if err != nil {
		var ue *UnsafeError
		if errors.As(err, &ue) {
			ue.Path = t.Path
		}
		return err
	}
	if beforeReplace != nil {
		beforeReplace(t.real)
	}
	defer settled(tmp)
	if err := ctx.Err(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s is unchanged: %w", t.Path, context.Cause(ctx))
	}
	if err := t.unchanged(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, t.real); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot replace %s: %w", t.Path, unwrapPath(err))
	}
	return nil
}

var hashSeed = maphash.MakeSeed()

// beforeReplace, when set (by tests: export_test.go), runs between the
// temporary file's write and the check that precedes the rename: the
// window in which another writer's change must be caught.
var beforeReplace func(path string)

// unchanged reports a *ChangedError when the file is no longer what Open
// read.
func (t *Target) unchanged() error {
	fi, err := os.Stat(t.real)
	if err != nil {
		return &ChangedError{t.Path}
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Ino != t.st.Ino || st.Dev != t.st.Dev || st.Size != t.st.Size || st.Mtim != t.st.Mtim {
		return &ChangedError{t.Path}
	}
	f, err := os.OpenFile(t.real, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return &ChangedError{t.Path}
	}
	defer f.Close()
	var h maphash.Hash
	h.SetSeed(hashSeed)
	if _, err := io.Copy(&h, f); err != nil || h.Sum64() != t.sum {
		return &ChangedError{t.Path}
	}
	return nil
}

// writeTempAs writes data to a new temporary file beside final, owned by
// uid:gid with mode and final's extended attributes (its ACL).
func writeTempAs(ctx context.Context, final string, data []byte, mode os.FileMode, uid, gid int) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(final), tempPattern(final))
	if err != nil {
		return "", fmt.Errorf("cannot write %s: %w", final, unwrapPath(err))
	}
	created(f)
	fail := func(err error) (string, error) {
		f.Close()
		discard(f.Name())
		return "", err
	}
	if uid != os.Geteuid() || gid != os.Getegid() {
		if err := f.Chown(uid, gid); err != nil {
			return fail(&UnsafeError{final, fmt.Sprintf("belongs to %s:%d, and citusgen could not give its replacement the same owner (%v); run it as that user", owner(uint32(uid)), gid, unwrapPath(err))})
		}
	}
	if err := copyXattrs(final, f); err != nil {
		return fail(err)
	}
	// After Chown, which clears the set-id bits, and after the ACL, whose
	// mask the group bits are: the same as the file's, so it stays.
	if err := f.Chmod(mode); err != nil {
		return fail(fmt.Errorf("cannot write %s: %w", final, unwrapPath(err)))
	}
	if err := writeChunked(ctx, f, data); err != nil {
		if ctx.Err() != nil {
			return fail(fmt.Errorf("%s is unchanged: %w", final, err))
		}
		return fail(fmt.Errorf("cannot write %s: %w", final, unwrapPath(err)))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("cannot write %s: %w", final, unwrapPath(err)))
	}
	if err := f.Close(); err != nil {
		return fail(fmt.Errorf("cannot write %s: %w", final, unwrapPath(err)))
	}
	return f.Name(), nil
}

func owner(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return u.Username
	}
	return strconv.Itoa(int(uid))
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file (" + m.Type().String() + ")"
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// A temporary file is named .<base>.tmp-<digits> beside the file it replaces
// (os.CreateTemp's random part is decimal digits).
func tempPattern(final string) string { return "." + filepath.Base(final) + ".tmp-*" }

func tempRE(final string) *regexp.Regexp {
	return regexp.MustCompile(`^\.` + regexp.QuoteMeta(filepath.Base(final)) + `\.tmp-[0-9]+$`)
}

// inFlight holds the temporary files being written, for RemoveTemps.
var inFlight sync.Map

func created(f *os.File)  { inFlight.Store(f.Name(), struct{}{}) }
func settled(name string) { inFlight.Delete(name) }

// discard removes a temporary file that will not be renamed.
func discard(name string) {
	os.Remove(name)
	settled(name)
}

// RemoveTemps removes the temporary files of every write in flight: a
// process that must exit at once (a second signal) leaves none behind.
func RemoveTemps() {
	inFlight.Range(func(k, _ any) bool {
		os.Remove(k.(string))
		inFlight.Delete(k)
		return true
	})
}

// StaleAge is how old a leftover temporary file must be before a later write
// to the same file removes it.
const StaleAge = 10 * time.Minute

// RemoveStale removes the temporary files an interrupted citusgen left
// beside path (symlinks resolved, as Replace resolves them): only names of
// citusgen's exact pattern, only regular files owned by the current user or
// by path's owner (citusgen gives a replacement the owner of the file it
// replaces), and only files older than StaleAge.
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

// aclAccess is the extended attribute that holds a file's POSIX ACL.
const aclAccess = "system.posix_acl_access"

// copyXattrs gives f, the new file that will be renamed over final, the
// extended attributes of final: its POSIX ACL (system.posix_acl_access),
// user.* attributes, security labels.
func copyXattrs(final string, f *os.File) error {
	names, err := xattrList(func(buf []byte) (int, error) { return unix.Listxattr(final, buf) })
	switch {
	case errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.ENOENT):
		return nil // a file system without them, or no file to take them from
	case err != nil:
		return fmt.Errorf("cannot read the extended attributes of %s: %w", final, err)
	}
	fd := int(f.Fd())
	for _, name := range names {
		want, err := xattrGet(func(buf []byte) (int, error) { return unix.Getxattr(final, name, buf) })
		if errors.Is(err, unix.ENODATA) {
			continue // removed since the listing
		}
		if err != nil {
			return fmt.Errorf("cannot read the extended attribute %s of %s: %w", name, final, err)
		}
		// Equal already (a security label the kernel gave f): setting it
		// again could only fail.
		if have, err := xattrGet(func(buf []byte) (int, error) { return unix.Fgetxattr(fd, name, buf) }); err == nil && bytes.Equal(have, want) {
			continue
		}
		if err := unix.Fsetxattr(fd, name, want, 0); err != nil {
			return &UnsafeError{final, fmt.Sprintf("has the extended attribute %s, which citusgen cannot give the new file that replaces it (%v); without it the attribute would be lost. Run citusgen as a user who may set it, or remove it first (setfattr -x %s %s)", name, err, name, final)}
		}
	}
	if !slices.Contains(names, aclAccess) {
		if err := unix.Fremovexattr(fd, aclAccess); err != nil && !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("cannot write %s: the new file got an ACL from its directory's default ACL, which %s does not have, and removing it failed: %w", final, final, err)
		}
	}
	return nil
}

// xattrList is the names that list (listxattr or flistxattr) returns.
func xattrList(list func([]byte) (int, error)) ([]string, error) {
	b, err := xattrGet(list)
	if err != nil || len(b) == 0 {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"), nil
}

// xattrGet calls get with a buffer large enough for its answer: the size
// first, then the value, again if it grew in between.
func xattrGet(get func([]byte) (int, error)) ([]byte, error) {
	for {
		n, err := get(nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = get(buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
