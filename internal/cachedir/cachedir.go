// Package cachedir is citusgen's cache directory: $XDG_CACHE_HOME/citusgen,
// else ~/.cache/citusgen. What it holds is run or believed: python3 runs
// the settings reader's bytecode from it, and check takes compose-go's
// answers from its memo. So citusgen uses it only while nobody else could
// have written there: the directory, and the folders citusgen makes in it,
// must be the user's and writable by nobody else, and the directory that
// holds it must not let others replace it. Otherwise citusgen works
// without it (slower), and says once why and what to do.
package cachedir

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

var (
	mu    sync.Mutex
	notes func(string)
	said  = map[string]bool{}
)

// SetNotes sends the notes that say why the cache is not used to f (the
// command's stderr), each once from now on. Before it, they go to
// os.Stderr.
func SetNotes(f func(note string)) {
	mu.Lock()
	defer mu.Unlock()
	notes, said = f, map[string]bool{}
}

func note(msg string) {
	mu.Lock()
	defer mu.Unlock()
	if said[msg] {
		return
	}
	said[msg] = true
	if notes != nil {
		notes(msg)
		return
	}
	fmt.Fprintf(os.Stderr, "citusgen: note: %s\n", msg)
}

// Dir is citusgen's cache directory, with the folder sub in it; both are
// made (0700) where missing. ok is false when there is no cache to use:
// none can be made (no home directory, a read-only file system), which
// only costs speed, or another user could have written to it, which a
// note says.
func Dir(sub string) (dir string, ok bool) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", false
	}
	dir = filepath.Join(base, "citusgen")
	if os.MkdirAll(filepath.Join(dir, sub), 0o700) != nil {
		return "", false
	}
	if why := holderProblem(base); why != "" {
		note(fmt.Sprintf("not using the cache directory %s: %s", dir, why))
		return "", false
	}
	for _, d := range []string{dir, filepath.Join(dir, sub)} {
		if why := ownProblem(d); why != "" {
			note(fmt.Sprintf("not using the cache directory %s: %s", d, why))
			return "", false
		}
	}
	return dir, true
}

// ownProblem says why a folder of citusgen's cache is not the user's
// alone ("" when it is).
func ownProblem(path string) string {
	st, err := stat(path)
	if err != nil {
		return fmt.Sprintf("cannot check it (%v); remove it (citusgen makes a new one)", err)
	}
	const planted = "so another user could plant files there that citusgen would run or believe"
	mode := st.Mode & 0o7777
	switch me := uint32(os.Geteuid()); {
	case st.Uid != me:
		return fmt.Sprintf("it belongs to %s, not to you (%s), %s; remove it (citusgen makes a new one) or set XDG_CACHE_HOME to a directory of your own", userName(st.Uid), userName(me), planted)
	case mode&0o002 != 0:
		return fmt.Sprintf("others can write to it (mode %04o), %s; make it yours alone (chmod 700 %s) or remove it (citusgen makes a new one)", mode, planted, path)
	case mode&0o020 != 0:
		return fmt.Sprintf("its group can write to it (mode %04o), %s; make it yours alone (chmod 700 %s) or remove it (citusgen makes a new one)", mode, planted, path)
	}
	return ""
}

// holderProblem says why the directory that holds citusgen's cache (the
// user's ~/.cache, or $XDG_CACHE_HOME) lets another user replace it: it
// belongs to someone else than the user or root, or others can write to
// it and it is not sticky (as /tmp is).
func holderProblem(path string) string {
	st, err := stat(path)
	if err != nil {
		return fmt.Sprintf("cannot check %s (%v)", path, err)
	}
	const replace = "so another user could replace citusgen's directory in it"
	mode := st.Mode & 0o7777
	switch me := uint32(os.Geteuid()); {
	case st.Uid != me && st.Uid != 0:
		return fmt.Sprintf("%s belongs to %s, not to you (%s), %s; set XDG_CACHE_HOME to a directory of your own", path, userName(st.Uid), userName(me), replace)
	case mode&0o022 != 0 && mode&syscall.S_ISVTX == 0:
		return fmt.Sprintf("%s is writable by others than you (mode %04o) and not sticky, %s; chmod go-w %s, or set XDG_CACHE_HOME to a directory of your own", path, mode, replace, path)
	}
	return ""
}

func stat(path string) (*syscall.Stat_t, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	return fi.Sys().(*syscall.Stat_t), nil
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(int(uid))
}
