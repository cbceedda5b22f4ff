package composefile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/schema"

	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/internal/cachedir"
)

// loadMemo remembers, per compose file, compose-go's answer for the last
// input it loaded and validated: the ports of each service. Compiling
// compose-go's JSON Schema and loading the file is most of what a
// `citusgen check` costs, and check runs on every commit over a compose
// file that rarely changes. The key is everything the answer depends on:
// compose-go's schema and the versions of the code that validates and
// loads, the file's path and bytes, and the values of the variables the
// bytes can reference (compose interpolates them). The file holds the hash
// and the ports alone, in the user's own cache directory (0700): no other
// value of the file or of its variables (a password) is written anywhere.
// A memo another user could have written is never read (cachedir): its
// ports would let check report no drift where there is some.
type loadMemo struct {
	file, key string // file is "" when nothing can be remembered
}

// memoVersion changes when what the memo holds, or how, changes.
const memoVersion = "citusgen compose ports 1"

func newLoadMemo(dir, filename string, data []byte, env map[string]string) loadMemo {
	versions := loaderVersions()
	// include and extends bring in other files, which the key does not cover.
	if versions == "" || mentionsKey(data, "include") || mentionsKey(data, "extends") {
		return loadMemo{}
	}
	cache, ok := cachedir.Dir("compose-ports")
	if !ok {
		return loadMemo{}
	}
	path := filename
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	h := sha256.New()
	for _, s := range []string{memoVersion, versions, path} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(data)
	h.Write([]byte{0})
	for _, name := range referencedVariables(data) {
		v, ok := env[name]
		h.Write([]byte(name))
		if ok {
			h.Write([]byte{'='})
			h.Write([]byte(v))
		}
		h.Write([]byte{0})
	}
	where := sha256.Sum256([]byte(path))
	return loadMemo{
		file: filepath.Join(cache, "compose-ports", hex.EncodeToString(where[:12])),
		key:  hex.EncodeToString(h.Sum(nil)),
	}
}

// lookup answers the ports remembered for this input, if it is the one
// remembered.
func (m loadMemo) lookup() (map[string][]Port, bool) {
	if m.file == "" {
		return nil, false
	}
	b, err := os.ReadFile(m.file)
	if err != nil {
		return nil, false
	}
	key, body, ok := bytes.Cut(b, []byte("\n"))
	var ports map[string][]Port
	if !ok || string(key) != m.key || json.Unmarshal(body, &ports) != nil || ports == nil {
		return nil, false
	}
	return ports, true
}

// store remembers the ports of this input; a failure only costs the next
// run its speed.
func (m loadMemo) store(ports map[string][]Port) {
	body, err := json.Marshal(ports)
	if m.file == "" || err != nil || os.MkdirAll(filepath.Dir(m.file), 0o700) != nil {
		return
	}
	_ = atomicfile.Write(m.file, append([]byte(m.key+"\n"), body...))
}

// loaderVersions names the code whose answer is remembered: compose-go's
// schema text, the modules the binary was built from, and the binary itself
// (its path, size and time), so that any other build of citusgen, or a
// go run, starts afresh. "" when the binary cannot be found, and nothing is
// remembered.
func loaderVersions() string {
	sum := sha256.Sum256([]byte(schema.Schema))
	parts := []string{"schema " + hex.EncodeToString(sum[:])}
	if info, ok := debug.ReadBuildInfo(); ok {
		parts = append(parts, "main "+info.Main.Path+"@"+info.Main.Version)
		for _, d := range info.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			parts = append(parts, "dep "+d.Path+"@"+d.Version+" "+d.Sum)
		}
		for _, kv := range info.Settings {
			parts = append(parts, "setting "+kv.Key+"="+kv.Value)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	st, err := os.Stat(exe)
	if err != nil {
		return ""
	}
	parts = append(parts, fmt.Sprintf("binary %s %d %d", exe, st.Size(), st.ModTime().UnixNano()))
	return strings.Join(parts, "\n")
}

// referencedVariables are the names after every "$" or "${" in data: a
// superset of what compose interpolates (escaped $$ and comments too).
func referencedVariables(data []byte) []string {
	seen := map[string]bool{}
	var names []string
	for i := 0; i < len(data); i++ {
		if data[i] != '$' {
			continue
		}
		j := i + 1
		if j < len(data) && data[j] == '{' {
			j++
		}
		k := j
		for k < len(data) && (data[k] == '_' || data[k] >= 'a' && data[k] <= 'z' || data[k] >= 'A' && data[k] <= 'Z' || k > j && data[k] >= '0' && data[k] <= '9') {
			k++
		}
		if name := string(data[j:k]); k > j && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// mentionsKey: word appears followed by a colon (quotes and blanks between
// allowed), as a mapping key of it would; a superset of the real keys.
func mentionsKey(data []byte, word string) bool {
	for rest := data; ; {
		i := bytes.Index(rest, []byte(word))
		if i < 0 {
			return false
		}
		rest = rest[i+len(word):]
		after := bytes.TrimLeft(rest, "\"' \t")
		if len(after) > 0 && after[0] == ':' {
			return true
		}
	}
}
