package composefile

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// EnvValue reads an env file as docker compose reads a .env (nothing is
// taken from the process environment) and returns the value it gives
// name, and whether it sets name at all.
func EnvValue(data []byte, name string) (value string, set bool, err error) {
	vars, err := dotenv.UnmarshalBytesWithLookup(data, noLookup)
	if err != nil {
		return "", false, err
	}
	value, set = vars[name]
	return value, set, nil
}

// NewPassword is 32 random characters of [A-Za-z0-9_-]: nothing that a
// .env file, a shell, compose's ${...} interpolation, psql's \getenv or
// Python would read differently.
func NewPassword() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cannot generate a password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// SetEnvValue rewrites the last line of an env file that sets name (the
// one docker compose uses) to set it to value, keeping every other byte,
// an `export ` in front and the line's ending. The value is quoted so that
// compose reads it back exactly (single quotes, else double quotes with
// escapes); the result is read back to prove it, and to prove that no
// other variable changed. Errors never hold the value.
func SetEnvValue(data []byte, name, value string) ([]byte, error) {
	before, err := dotenv.UnmarshalBytesWithLookup(data, noLookup)
	if err != nil {
		return nil, EnvSyntax(err)
	}
	if _, ok := before[name]; !ok {
		return nil, fmt.Errorf("it does not set %s", name)
	}
	line := regexp.MustCompile(`(?m)^([ \t]*(?:export[ \t]+)?` + regexp.QuoteMeta(name) + `[ \t]*[=:][ \t]*)(.*)$`)
	locs := line.FindAllSubmatchIndex(data, -1)
	if len(locs) == 0 {
		return nil, fmt.Errorf("no line of it sets %s as NAME=VALUE", name)
	}
	last := locs[len(locs)-1]
	start, end := last[4], last[5]
	if end > start && data[end-1] == '\r' {
		end-- // CRLF: the line keeps its ending
	}
	escape := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	for _, quoted := range []string{
		"'" + strings.ReplaceAll(value, "'", `\'`) + "'",
		`"` + escape.Replace(value) + `"`,
	} {
		out := slices.Concat(data[:start], []byte(quoted), data[end:])
		after, err := dotenv.UnmarshalBytesWithLookup(out, noLookup)
		if err != nil || after[name] != value || len(after) != len(before) {
			continue
		}
		same := true
		for k, v := range before {
			if k != name && after[k] != v {
				same = false
			}
		}
		if same {
			return out, nil
		}
	}
	return nil, fmt.Errorf("citusgen cannot write %s there so that docker compose reads it back unchanged (a value over several lines?)", name)
}

func noLookup(string) (string, bool) { return "", false }

var envProblem = regexp.MustCompile(`line (\d+): (unterminated quoted value|unexpected character)`)

// EnvSyntax is an env file's parse error without the text of its line,
// which compose-go's message quotes and which may hold a password.
func EnvSyntax(err error) error {
	if m := envProblem.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("line %s: %s (docker compose cannot read it)", m[1], m[2])
	}
	return errors.New("docker compose cannot read it as an env file")
}
