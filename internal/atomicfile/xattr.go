package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// aclAccess is the extended attribute that holds a file's POSIX ACL.
const aclAccess = "system.posix_acl_access"

// copyXattrs gives f, the new file that will be renamed over final, the
// extended attributes of final: its POSIX ACL (system.posix_acl_access),
// user.* attributes, security labels. A rename keeps the new file's
// attributes, not the old one's: without this, a settings file shared
// with one user through an ACL would lose it, and the mode bits alone
// would let its group read the password. An access ACL the kernel gave f
// from its directory's default ACL is removed when final has none: it
// could grant what final did not. An attribute f cannot be given is an
// *UnsafeError: writing without it would drop it.
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
