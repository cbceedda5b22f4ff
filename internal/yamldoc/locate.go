package yamldoc

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var lineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// MaxSearch bounds the size of a document searched for an error's line:
// the search parses growing prefixes (about log2(lines) times).
const MaxSearch = 4 << 20

// Locate finds the line of a YAML syntax error that the parser reports
// without one, such as "found unknown directive name" or "unknown anchor
// 'x' referenced", so that every message can name file:line. It returns the
// 1-based line of a parse error and its message without
// the "yaml: " and "line N: " prefixes; line is 0 when it cannot be found.
func Locate(data []byte, err error) (int, string) {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, m[2]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if len(data) > MaxSearch {
		return 0, msg
	}
	// The first prefix of whole lines that fails the same way ends at the
	// line at fault.
	starts := []int{0}
	for i, b := range data {
		if b == '\n' && i+1 < len(data) {
			starts = append(starts, i+1)
		}
	}
	end := func(k int) int { // bytes of the first k lines
		if k >= len(starts) {
			return len(data)
		}
		return starts[k]
	}
	lo, hi := 1, len(starts)
	for lo < hi {
		mid := (lo + hi) / 2
		if e := parse(data[:end(mid)]); e != nil && strings.TrimPrefix(e.Error(), "yaml: ") == msg {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, msg
}

// parse decodes every document of data, as the callers do.
func parse(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
