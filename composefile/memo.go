package composefile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/schema"

	"github.com/citusgen/citusgen/internal/atomicfile"
)

// validationMemo remembers, per compose file, the last input compose-go's
// JSON Schema validation passed. Compiling that schema is most of what a
// `citusgen check` costs (tens of ms of CPU), and check runs on every
// commit over a compose file that rarely changes. The key is everything
// validation depends on: the versions of compose-go and its schema library,
// the bytes, and the values of the variables the bytes can reference (it
// validates the interpolated document). A hit skips the validation only:
// the document is still loaded, interpolated and decoded by compose-go.
// The file holds the hash alone, in the user's own cache directory (0700):
// no variable's value is written anywhere.
type validationMemo struct {
	file, key string // file is "" when nothing can be remembered
}

// memoVersion changes when what validation covers changes.
const memoVersion = "citusgen compose validation 1"

func newValidationMemo(dir, filename string, data []byte, env map[string]string) validationMemo {
	versions := validatorVersions()
	// include and extends bring in other files, which the key does not cover.
	if versions == "" || mentionsKey(data, "include") || mentionsKey(data, "extends") {
		return validationMemo{}
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return validationMemo{}
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
	return validationMemo{
		file: filepath.Join(base, "citusgen", "compose-validated", hex.EncodeToString(where[:12])),
		key:  hex.EncodeToString(h.Sum(nil)),
	}
}

// hit: this input passed validation before.
func (m validationMemo) hit() bool {
	if m.file == "" {
		return false
	}
	b, err := os.ReadFile(m.file)
	return err == nil && string(b) == m.key
}

// store remembers that this input passed; a failure only costs the next
// run its speed.
func (m validationMemo) store() {
	if m.file == "" || os.MkdirAll(filepath.Dir(m.file), 0o700) != nil {
		return
	}
	_ = atomicfile.Write(m.file, []byte(m.key))
}

// validatorVersions names the code that validates: compose-go's schema
// text, and the versions of compose-go and the JSON Schema library, or, in
// a binary that does not record them (go test, go run), the binary itself.
// "" when neither is known, and nothing is remembered.
func validatorVersions() string {
	sum := sha256.Sum256([]byte(schema.Schema))
	found := []string{"schema " + hex.EncodeToString(sum[:])}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			if strings.HasPrefix(d.Path, "github.com/compose-spec/compose-go/") || strings.HasPrefix(d.Path, "github.com/santhosh-tekuri/jsonschema/") {
				found = append(found, d.Path+"@"+d.Version+" "+d.Sum)
			}
		}
	}
	if len(found) < 3 {
		exe, err := os.Executable()
		if err != nil {
			return ""
		}
		st, err := os.Stat(exe)
		if err != nil {
			return ""
		}
		found = append(found, fmt.Sprintf("binary %s %d %d", exe, st.Size(), st.ModTime().UnixNano()))
	}
	sort.Strings(found)
	return strings.Join(found, "\n")
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
