package composefile

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// EnvValue reads an env file as docker compose reads a .env (nothing is
// taken from the process environment) and returns the value it gives
// name, and whether it sets name at all.
func EnvValue(data []byte, name string) (value string, set bool, err error) {
	vars, err := dotenv.UnmarshalBytesWithLookup(data, func(string) (string, bool) { return "", false })
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
