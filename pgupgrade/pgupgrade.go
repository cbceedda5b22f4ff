// Package pgupgrade changes the PostgreSQL major of one node's data in a
// docker volume, with pg_upgrade run in one-off containers of an image that
// holds both majors (Image). It knows nothing of compose or of the cluster:
// the caller stops and starts the nodes and runs Citus's own
// citus_prepare_pg_upgrade/citus_finish_pg_upgrade around it.
//
// The steps run as a shell script (node.sh, embedded) inside the container,
// as root for the moves and as the postgres user (gosu, which the citus
// images carry) for initdb and pg_upgrade. Every value reaches it in the
// environment after validation here; the password only on stdin. The old
// data is kept in the volume (a hidden stash, by renames) until DropOld, so
// that Rollback can put it back where the old image expects it; every step
// records its phase, so a run killed at any point and run again finishes
// the job or redoes the unfinished step.
package pgupgrade

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/citusgen/citusgen/citus"
)

//go:embed node.sh
var nodeScript string

//go:embed relay.pl
var relayScript string

// Stash is the directory in the volume's root that holds the kept old data
// and the upgrade's state until DropOld or Rollback removes it.
const Stash = ".citusgen-upgrade"

// InitSettings are what the new cluster must be initdb'd with for
// pg_upgrade to accept it: as the old one was. InitQuery reads them.
type InitSettings struct {
	Encoding      string // e.g. UTF8
	Collate       string // lc_collate, e.g. en_US.utf8
	Ctype         string // lc_ctype
	Provider      string // libc, icu or builtin
	ICULocale     string // with Provider icu
	BuiltinLocale string // with Provider builtin (PostgreSQL 17+)
	DataChecksums bool
	WALSegmentMB  int // wal_segment_size in MB; 0 for initdb's default (16)
}

// InitQuery is the SQL that reads InitSettings from a live server of the
// given major, one row: encoding, collate, ctype, provider, icu locale,
// builtin locale, data checksums (on/off), wal segment size in bytes.
func InitQuery(major int) string {
	icu, builtin := "''", "''"
	switch {
	case major >= 17:
		icu = "CASE d.datlocprovider WHEN 'i' THEN d.datlocale ELSE '' END"
		builtin = "CASE d.datlocprovider WHEN 'b' THEN d.datlocale ELSE '' END"
	case major >= 15:
		icu = "coalesce(d.daticulocale, '')"
	}
	provider := "'libc'"
	if major >= 15 {
		provider = "CASE d.datlocprovider WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' ELSE 'libc' END"
	}
	return "SELECT pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, " + provider + ", " + icu + ", " + builtin +
		", current_setting('data_checksums'), pg_size_bytes(current_setting('wal_segment_size'))" +
		" FROM pg_database d WHERE d.datname = 'template1'"
}

// Node is one node's data volume and what its upgrade needs to know.
type Node struct {
	Name               string // service name, for messages
	Volume             string // docker volume holding the node's data
	OldMajor, NewMajor int
	User               string // the cluster superuser (POSTGRES_USER)
	Init               InitSettings
	Link               bool // pg_upgrade --link instead of copying
	// The live check: a docker network, and the host and port on it where
	// the running old server answers; the password is passed on stdin,
	// never in argv or the environment of a command line, never logged.
	Network, Host string
	Port          int
	Password      string
}

var (
	volumeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	userName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,62}$`)
	localeName = regexp.MustCompile(`^[A-Za-z0-9_.@-]{0,64}$`)
	encoding   = regexp.MustCompile(`^[A-Z0-9_]{1,20}$`)
	hostName   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]*$`)
)

func (n Node) validate(live bool) error {
	var errs []string
	if !volumeName.MatchString(n.Volume) {
		errs = append(errs, fmt.Sprintf("volume %q is not a docker volume name", n.Volume))
	}
	if n.OldMajor < 10 || n.NewMajor > 99 || n.NewMajor <= n.OldMajor {
		errs = append(errs, fmt.Sprintf("PostgreSQL %d to %d is not an upgrade pgupgrade makes (majors 10 to 99, new above old)", n.OldMajor, n.NewMajor))
	}
	if !userName.MatchString(n.User) {
		errs = append(errs, fmt.Sprintf("superuser %q is not a user name pgupgrade accepts (letters, digits, _ . -)", n.User))
	}
	in := n.Init
	if !encoding.MatchString(in.Encoding) {
		errs = append(errs, fmt.Sprintf("encoding %q is not an encoding name", in.Encoding))
	}
	for _, l := range []struct{ what, v string }{{"lc_collate", in.Collate}, {"lc_ctype", in.Ctype}, {"ICU locale", in.ICULocale}, {"builtin locale", in.BuiltinLocale}} {
		if !localeName.MatchString(l.v) {
			errs = append(errs, fmt.Sprintf("%s %q is not a locale name", l.what, l.v))
		}
	}
	if in.Collate == "" || in.Ctype == "" {
		errs = append(errs, "lc_collate and lc_ctype are required")
	}
	switch in.Provider {
	case "libc", "icu", "builtin":
	default:
		errs = append(errs, fmt.Sprintf("locale provider %q is not libc, icu or builtin", in.Provider))
	}
	if w := in.WALSegmentMB; w != 0 && (w < 1 || w > 1024 || w&(w-1) != 0) {
		errs = append(errs, fmt.Sprintf("WAL segment size %d MB is not a power of two from 1 to 1024", w))
	}
	if live {
		if !hostName.MatchString(n.Host) || !volumeName.MatchString(n.Network) || n.Port < 1 || n.Port > 65535 {
			errs = append(errs, fmt.Sprintf("the live check needs a docker network, host and port (got %q, %q, %d)", n.Network, n.Host, n.Port))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("node %s: %s", n.Name, strings.Join(errs, "; "))
	}
	return nil
}

var imageRef = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:@-]*$`)

// Image builds, once per pair of image IDs, an image FROM newImage with
// oldImage's /usr/lib/postgresql/OLD and /usr/share/postgresql/OLD copied
// in, and returns its tag. The tag holds both image IDs, so an image
// rebuilt under the same name gives a new tag. Both images must be local:
// nothing is pulled (FROM and COPY --from name the local image IDs).
func Image(ctx context.Context, oldImage, newImage string, oldMajor, newMajor int) (string, error) {
	if oldMajor < 10 || newMajor > 99 || newMajor <= oldMajor {
		return "", fmt.Errorf("PostgreSQL %d to %d is not an upgrade (majors 10 to 99, new above old)", oldMajor, newMajor)
	}
	var ids [2]string
	for i, img := range []string{oldImage, newImage} {
		if !imageRef.MatchString(img) {
			return "", fmt.Errorf("%q is not an image reference", img)
		}
		out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "-f", "{{.Id}}", img).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("image %s is not here (%s): pull or build it first", img, strings.TrimSpace(string(out)))
		}
		ids[i] = strings.TrimSpace(string(out))
	}
	short := func(id string) string { return strings.TrimPrefix(id, "sha256:")[:12] }
	tag := fmt.Sprintf("citusgen-pgupgrade:%d-%d-%s-%s", oldMajor, newMajor, short(ids[0]), short(ids[1]))
	if exec.CommandContext(ctx, "docker", "image", "inspect", tag).Run() == nil {
		return tag, nil
	}
	dockerfile := fmt.Sprintf("FROM %[1]s\nCOPY --from=%[2]s /usr/lib/postgresql/%[3]d /usr/lib/postgresql/%[3]d\nCOPY --from=%[2]s /usr/share/postgresql/%[3]d /usr/share/postgresql/%[3]d\nLABEL io.citusgen.pgupgrade.old=%[4]q io.citusgen.pgupgrade.new=%[5]q\n",
		ids[1], ids[0], oldMajor, oldImage, newImage)
	cmd := exec.CommandContext(ctx, "docker", "build", "--pull=false", "-q", "-t", tag, "-")
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	cmd.Stdin = strings.NewReader(dockerfile)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the image with PostgreSQL %d and %d (from %s and %s): %v\n%s", oldMajor, newMajor, oldImage, newImage, err, strings.TrimSpace(string(out)))
	}
	return tag, nil
}

// Space returns the bytes the upgrade needs in the volume (copy mode:
// about the old data without its WAL; link mode: about its catalogs) and
// the bytes free there, read in a container with the volume read-only.
func Space(ctx context.Context, image string, n Node) (need, free int64, err error) {
	if err := n.validate(false); err != nil {
		return 0, 0, err
	}
	res, err := run(ctx, image, n, "space", true, nil)
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(res.space)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("node %s: measuring space gave %q", n.Name, res.space)
	}
	need, err1 := strconv.ParseInt(f[0], 10, 64)
	free, err2 := strconv.ParseInt(f[1], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("node %s: measuring space: %v", n.Name, err)
	}
	return need, free, nil
}

// Check runs pg_upgrade --check against the running old server (its live
// check), with a new cluster initdb'd like n.Init in the container's own
// /tmp and the volume mounted read-only. Link mode is not checked (its
// check needs both clusters on one filesystem): the rest is the same.
func Check(ctx context.Context, image string, n Node) error {
	if err := n.validate(true); err != nil {
		return err
	}
	_, err := run(ctx, image, n, "check", true, nil)
	return err
}

// Upgrade makes the node's data the new major's, where the new image
// expects it, keeping the old data in the volume for Rollback. The old
// server must be stopped. A run that was killed is finished by running
// Upgrade again; progress (may be nil) gets each step as it starts.
func Upgrade(ctx context.Context, image string, n Node, progress func(step string)) error {
	if err := n.validate(false); err != nil {
		return err
	}
	if err := notRunning(ctx, n); err != nil {
		return err
	}
	_, err := run(ctx, image, n, "upgrade", false, progress)
	return err
}

// Rollback puts the old data back where the old image expects it and
// removes the new cluster, from any point of an Upgrade, finished or not.
// It refuses after a finished link-mode upgrade: the new cluster shares the
// old one's files and may have been started. Safe to run again.
func Rollback(ctx context.Context, image string, n Node) error {
	if err := n.validate(false); err != nil {
		return err
	}
	if err := notRunning(ctx, n); err != nil {
		return err
	}
	_, err := run(ctx, image, n, "rollback", false, nil)
	return err
}

// DropOld removes the old data a finished Upgrade kept: after it, Rollback
// has nothing to go back to.
func DropOld(ctx context.Context, image string, n Node) error {
	if err := n.validate(false); err != nil {
		return err
	}
	if err := notRunning(ctx, n); err != nil {
		return err
	}
	_, err := run(ctx, image, n, "dropold", false, nil)
	return err
}

// notRunning refuses while a container runs on the volume: the old server
// (or the new one) would see its files move.
func notRunning(ctx context.Context, n Node) error {
	out, err := exec.CommandContext(ctx, "docker", "ps", "--format", "{{.Names}}", "--filter", "volume="+n.Volume).Output()
	if err != nil {
		return fmt.Errorf("node %s: listing the containers on volume %s: %v", n.Name, n.Volume, err)
	}
	if names := strings.Fields(string(out)); len(names) > 0 {
		return fmt.Errorf("node %s: container %s runs on volume %s: stop it first", n.Name, strings.Join(names, ", "), n.Volume)
	}
	return nil
}

type result struct {
	space string
}

// ContainerLabel is set, with the volume as its value, on every container
// pgupgrade runs.
const ContainerLabel = "io.citusgen.pgupgrade.volume"

// run runs node.sh with action in a one-off container of image with the
// volume mounted where the image declares its data volume (so no anonymous
// volume is made for the image's VOLUME).
func run(ctx context.Context, image string, n Node, action string, readOnly bool, progress func(string)) (result, error) {
	if !imageRef.MatchString(image) {
		return result{}, fmt.Errorf("node %s: %q is not an image reference", n.Name, image)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "citusgen-pgupgrade-" + hex.EncodeToString(b[:])
	mount := citus.DataVolume(n.NewMajor)
	vol := "type=volume,src=" + n.Volume + ",dst=" + mount
	if readOnly {
		vol += ",readonly"
	}
	link, checksums, walseg := "0", "0", ""
	if n.Link {
		link = "1"
	}
	if n.Init.DataChecksums {
		checksums = "1"
	}
	if n.Init.WALSegmentMB != 0 {
		walseg = strconv.Itoa(n.Init.WALSegmentMB)
	}
	env := []string{
		"ACTION=" + action, "VOL=" + mount, "LAYOUT_MAJOR=" + strconv.Itoa(citus.LayoutMajor),
		"OLD_MAJOR=" + strconv.Itoa(n.OldMajor), "NEW_MAJOR=" + strconv.Itoa(n.NewMajor),
		"SUPERUSER=" + n.User, "LINK=" + link,
		"INIT_ENCODING=" + n.Init.Encoding, "INIT_COLLATE=" + n.Init.Collate, "INIT_CTYPE=" + n.Init.Ctype,
		"INIT_PROVIDER=" + n.Init.Provider, "INIT_ICU_LOCALE=" + n.Init.ICULocale,
		"INIT_BUILTIN_LOCALE=" + n.Init.BuiltinLocale, "INIT_CHECKSUMS=" + checksums, "INIT_WALSEG=" + walseg,
	}
	args := []string{"run", "--rm", "-i", "--name", name, "--label", ContainerLabel + "=" + n.Volume,
		"--user", "0:0", "--entrypoint", "bash", "--mount", vol}
	password := ""
	if action == "check" {
		args = append(args, "--network", n.Network)
		env = append(env, "RELAY_HOST="+n.Host, "RELAY_PORT="+strconv.Itoa(n.Port), "RELAY_PL="+relayScript)
		password = n.Password
	}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	// stdin: the password's line, then the script. read takes exactly one
	// line from a pipe, and bash -s reads the rest.
	args = append(args, image, "-c", `IFS= read -r PGPASSWORD; export PGPASSWORD; [ -n "$PGPASSWORD" ] || unset PGPASSWORD; exec bash -s`)
	if strings.ContainsAny(password, "\n\r") {
		return result{}, fmt.Errorf("node %s: the password has a line break, which the live check cannot pass on", n.Name)
	}
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin = io.MultiReader(strings.NewReader(password+"\n"), strings.NewReader(nodeScript))
	// Killing the docker CLI leaves its container running: remove that.
	cmd.Cancel = func() error {
		rmCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		exec.CommandContext(rmCtx, "docker", "rm", "-f", name).Run()
		return cmd.Process.Kill()
	}
	cmd.WaitDelay = 30 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return result{}, fmt.Errorf("node %s: running docker: %v", n.Name, err)
	}
	var res result
	var reasons, other []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "@@step "):
			if progress != nil {
				progress(strings.TrimPrefix(line, "@@step "))
			}
		case strings.HasPrefix(line, "@@reason "):
			if r := strings.TrimRight(strings.TrimPrefix(line, "@@reason "), " "); r != "" {
				reasons = append(reasons, r)
			}
		case strings.HasPrefix(line, "@@space "):
			res.space = strings.TrimPrefix(line, "@@space ")
		default:
			other = append(other, line)
		}
	}
	err = cmd.Wait()
	if err == nil {
		return res, nil
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("node %s: %s stopped: %w (run it again to finish, or roll back)", n.Name, action, ctx.Err())
	}
	var exit *exec.ExitError
	code := -1
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	}
	what := map[string]string{
		"upgrade":  fmt.Sprintf("upgrading PostgreSQL %d to %d", n.OldMajor, n.NewMajor),
		"check":    fmt.Sprintf("pg_upgrade --check of PostgreSQL %d to %d", n.OldMajor, n.NewMajor),
		"rollback": fmt.Sprintf("rolling back to PostgreSQL %d", n.OldMajor),
		"dropold":  fmt.Sprintf("dropping the kept PostgreSQL %d data", n.OldMajor),
		"space":    "measuring space",
	}[action]
	switch code {
	case 4:
		return res, refused{fmt.Errorf("node %s: %s: %s", n.Name, what, strings.Join(reasons, "\n"))}
	case 3, 5, 6:
		return res, fmt.Errorf("node %s: %s: %s", n.Name, what, strings.Join(reasons, "\n"))
	}
	tail := append(other, strings.Split(strings.TrimSpace(stderr.String()), "\n")...)
	if len(tail) > 15 {
		tail = tail[len(tail)-15:]
	}
	return res, fmt.Errorf("node %s: %s failed (%v):\n%s", n.Name, what, err, strings.Join(append(reasons, tail...), "\n"))
}

// refused is PostgreSQL's own refusal (initdb or pg_upgrade failed on this
// data): running the same again fails the same way.
type refused struct{ error }

func (r refused) Unwrap() error { return r.error }

// Refused reports whether err (or one of the errors it joins) is
// PostgreSQL refusing the upgrade, as against the run being stopped or
// its container killed, which running Upgrade again finishes.
func Refused(err error) bool {
	var r refused
	return errors.As(err, &r)
}
