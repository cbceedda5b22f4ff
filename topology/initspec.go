package topology

import (
	"errors"
	"fmt"
	"regexp"
)

var passwordLineRE = regexp.MustCompile(`(?m)^((?:#.*\n)*)password: .*\n`)

// DefaultSpecWithPasswordEnv is the default spec (DefaultSpec) with its
// password line, and the comment above it, turned into password_env: name
// and a comment naming envFile, the file that sets it (init
// --password-env). The result is proven to read as a spec with that
// variable and no inline password.
func DefaultSpecWithPasswordEnv(name, envFile string) ([]byte, error) {
	spec := defaultSpec
	loc := passwordLineRE.FindIndex(spec)
	if loc == nil {
		return nil, errors.New("the embedded default topology has no password: line to replace; this is a bug in citusgen")
	}
	repl := fmt.Sprintf("# Password of that user: read from the environment variable %s.\n"+
		"# docker compose reads it from the .env file beside the compose file\n"+
		"# (citusgen init --password-env wrote %s); keep that file out of version control.\n"+
		"password_env: %s\n", name, envFile, name)
	out := append(append(append([]byte{}, spec[:loc[0]]...), repl...), spec[loc[1]:]...)
	t, err := Parse(DefaultSource, out)
	var errs Errors
	if errors.As(err, &errs) && errs[0].Field == "password_env" {
		// A name the default spec uses for something else: the user's choice.
		return nil, &FieldError{File: "--password-env " + name, Msg: errs[0].Msg}
	}
	if err != nil || t.PasswordEnv != name || t.Password != "" {
		return nil, fmt.Errorf("the default topology with password_env %s does not read back (%v); this is a bug in citusgen", name, err)
	}
	return out, nil
}
