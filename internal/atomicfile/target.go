package atomicfile

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Target is a user's file that citusgen reads, changes and writes back: a
// regular file, reached through any symlinks, replaced only if nobody else
// changed it in between, keeping its owner and mode.
type Target struct {
	Path string // as the user named it
	Data []byte // its content when it was read

	real string // symlinks resolved: the file that is replaced
	st   *syscall.Stat_t
	sum  uint64 // maphash of Data: fast, and compared within this process only
	// checked: CheckWritable passed (its note, if any, is in Notes).
	checked bool
	// Notes are things the user should know about the write (a read-only
	// file replaced in their own directory).
	Notes []string
}

// UnsafeError is a target citusgen refuses to replace: not a regular file,
// not writable, linked from elsewhere. It is bad input (exit status 2);
// nothing was touched.
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

// Open reads path for a later Replace. It never blocks: a named pipe, a
// device or a directory is refused before it is opened (and opened without
// waiting, should it become one in between). A missing file is an error
// wrapping fs.ErrNotExist.
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
	data, err := readAll(f, ofi.Size())
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	return &Target{Path: path, Data: data, real: real, st: ofi.Sys().(*syscall.Stat_t), sum: maphash.Bytes(hashSeed, data)}, nil
}

// readAll reads f to its end into one buffer of its size (plus what it
// grew by meanwhile): a large file costs one allocation, not a doubling
// series of them.
func readAll(f *os.File, size int64) ([]byte, error) {
	buf := make([]byte, 0, size+512)
	for {
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// CheckWritable refuses a target the user could not write, except in a
// directory they own, where replacing it is theirs to do: then it only
// notes that. A file with other hard links is refused too: replacing it
// would leave the other names with the old content.
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
// its directory with its owner and mode, renamed over it. If the file
// changed since Open (size, modification time, inode or content), nothing
// is written and the error is a *ChangedError.
func (t *Target) Replace(data []byte) error {
	if err := t.CheckWritable(); err != nil {
		return err
	}
	mode := os.FileMode(t.st.Mode & 0o777)
	if t.st.Mode&syscall.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if t.st.Mode&syscall.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if t.st.Mode&syscall.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	tmp, err := writeTempAs(t.real, data, mode, int(t.st.Uid), int(t.st.Gid))
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
func writeTempAs(final string, data []byte, mode os.FileMode, uid, gid int) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("cannot write %s: %w", final, unwrapPath(err))
	}
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(f.Name())
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
	if _, err := f.Write(data); err != nil {
		return fail(fmt.Errorf("cannot write %s: %w", final, unwrapPath(err)))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("cannot write %s: %w", final, unwrapPath(err)))
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("cannot write %s: %w", final, unwrapPath(err))
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
