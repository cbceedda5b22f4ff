package atomicfile_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/testsupport/pgtest"
)

// The tags of a POSIX ACL's entries, as the kernel stores them in
// system.posix_acl_access (linux/posix_acl_xattr.h), which is what
// setfacl writes.
const (
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclMask     = 0x10
	aclOther    = 0x20
	aclNoID     = 0xffffffff
)

type aclEntry struct {
	tag, perm uint16
	id        uint32
}

// aclValue is the system.posix_acl_access value of the entries (in the
// kernel's order: by tag, then id).
func aclValue(entries ...aclEntry) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint32(2)) // POSIX_ACL_XATTR_VERSION
	for _, e := range entries {
		binary.Write(&b, binary.LittleEndian, e)
	}
	return b.Bytes()
}

func setXattr(t *testing.T, path, name string, value []byte) {
	t.Helper()
	if err := unix.Setxattr(path, name, value, 0); err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			pgtest.SkipUnavailable(t, "the file system of %s does not store %s (%v); run the tests with TMPDIR on one that does (ext4, xfs, btrfs; tmpfs from Linux 6.6 on)", path, name, err)
		}
		t.Fatalf("setxattr %s on %s: %v", name, path, err)
	}
}

func getXattr(path, name string) []byte {
	buf := make([]byte, 4096)
	n, err := unix.Getxattr(path, name, buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// canRead says whether a process of uid:gid may read path, as the kernel
// decides it (ACLs included).
func canRead(path string, uid, gid uint32) bool {
	cmd := exec.Command("cat", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}}
	return cmd.Run() == nil
}

// A settings file shared with one more user through a POSIX ACL (mode
// 0640, its group denied by the ACL) keeps the ACL, and its other extended
// attributes, through a replace, and so do files WriteAll replaces.
// Without them the group would read the password and the user the ACL
// names could not read the file.
func TestReplaceKeepsACLAndXattrs(t *testing.T) {
	const (
		allowed = 65534 // nobody: the user the ACL lets read
		group   = 23456 // the file's group, which the ACL denies
		member  = 34567 // a user of that group
	)
	dir := sharedDir(t)
	p := filepath.Join(dir, "localsettings.py")
	if err := os.WriteFile(p, []byte("PASSWORD = 'old'\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		os.Chown(p, 0, group)
	}
	acl := aclValue(
		aclEntry{aclUserObj, 6, aclNoID},
		aclEntry{aclUser, 4, allowed},
		aclEntry{aclGroupObj, 0, aclNoID},
		aclEntry{aclMask, 4, aclNoID},
		aclEntry{aclOther, 0, aclNoID},
	)
	setXattr(t, p, "system.posix_acl_access", acl)
	setXattr(t, p, "user.origin", []byte("hand-written"))

	tg, err := atomicfile.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Replace([]byte("PASSWORD = 'new'\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "PASSWORD = 'new'\n" {
		t.Fatalf("content %q", b)
	}
	if got := getXattr(p, "system.posix_acl_access"); !bytes.Equal(got, acl) {
		t.Errorf("ACL after the replace: %x, want %x", got, acl)
	}
	if got := getXattr(p, "user.origin"); string(got) != "hand-written" {
		t.Errorf("user.origin after the replace: %q", got)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		if !canRead(p, allowed, allowed) {
			t.Error("the user the ACL names can no longer read the file")
		}
		if canRead(p, member, group) {
			t.Error("the file's group, which the ACL denies, can read the file")
		}
	}

	// WriteAll over an existing file (render --out) keeps them too.
	if err := atomicfile.WriteAll(dir, []atomicfile.File{{Name: "localsettings.py", Data: []byte("PASSWORD = 'newer'\n")}}); err != nil {
		t.Fatal(err)
	}
	if got := getXattr(p, "system.posix_acl_access"); !bytes.Equal(got, acl) {
		t.Errorf("ACL after WriteAll: %x, want %x", got, acl)
	}
	if got := getXattr(p, "user.origin"); string(got) != "hand-written" {
		t.Errorf("user.origin after WriteAll: %q", got)
	}
}

// A file the kernel gives an ACL at creation (its directory's default ACL)
// replaces one without: the replacement has no ACL either, so it grants
// nobody more than the file did.
func TestReplaceDropsAnInheritedACL(t *testing.T) {
	dir := sharedDir(t)
	p := filepath.Join(dir, "localsettings.py")
	if err := os.WriteFile(p, []byte("old\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	setXattr(t, dir, "system.posix_acl_default", aclValue(
		aclEntry{aclUserObj, 6, aclNoID},
		aclEntry{aclUser, 4, 65534},
		aclEntry{aclGroupObj, 4, aclNoID},
		aclEntry{aclMask, 4, aclNoID},
		aclEntry{aclOther, 0, aclNoID},
	))
	tg, err := atomicfile.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Replace([]byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if got := getXattr(p, "system.posix_acl_access"); got != nil {
		t.Errorf("the replacement has an ACL the file did not have: %x", got)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if os.Geteuid() == 0 && canRead(p, 65534, 65534) {
		t.Error("the user of the directory's default ACL can read the replacement")
	}
}

// An attribute the user may not set on the replacement (here file
// capabilities, security.capability, which need CAP_SETFCAP) is refused
// with the file untouched, rather than dropped. Runs the test binary as
// another user, so it needs root.
func TestReplaceRefusesAttributesItCannotCopy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to set security.capability and to run a process as another user")
	}
	const nobody = 65534
	dir := sharedDir(t)
	run := replacer(t, dir, nobody)
	mine := filepath.Join(dir, "mine")
	os.Mkdir(mine, 0o755)
	os.Chown(mine, nobody, nobody)
	p := filepath.Join(mine, "localsettings.py")
	os.WriteFile(p, []byte("old\n"), 0o644)
	os.Chown(p, nobody, nobody)
	// VFS_CAP_REVISION_2: permitted CAP_NET_BIND_SERVICE.
	caps := make([]byte, 20)
	binary.LittleEndian.PutUint32(caps[0:], 0x02000000)
	binary.LittleEndian.PutUint32(caps[4:], 1<<unix.CAP_NET_BIND_SERVICE)
	setXattr(t, p, "security.capability", caps)

	want := "refused: has the extended attribute security.capability, which citusgen cannot give the new file that replaces it (operation not permitted); without it the attribute would be lost. Run citusgen as a user who may set it, or remove it first (setfattr -x security.capability " + p + ")"
	if got := run(p); got != want {
		t.Errorf("helper said:\n%s\nwant:\n%s", got, want)
	}
	if b, _ := os.ReadFile(p); string(b) != "old\n" {
		t.Errorf("content %q", b)
	}
	if got := getXattr(p, "security.capability"); !bytes.Equal(got, caps) {
		t.Errorf("security.capability now %x", got)
	}
	entries, _ := os.ReadDir(mine)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}
