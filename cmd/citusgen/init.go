package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/citusgen/citusgen/composefile"
	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/topology"
)

type initCmd struct {
	Path        string `arg:"" optional:"" default:"citusgen.yaml" predictor:"file" help:"Where to write the starter topology ('-' prints it)."`
	PasswordEnv string `placeholder:"NAME" help:"Keep the password out of the spec: write password_env: NAME, and set NAME to a generated password in the env file (--env-file), which docker compose reads by itself. The password is never printed."`
	EnvFile     string `placeholder:"FILE" predictor:"file" help:"With --password-env: the env file that sets NAME, created (mode 0600) or added to; default .env, which docker compose reads from the compose file's directory."`
}

func (c initCmd) Run(e *env) error {
	spec := topology.DefaultSpec()
	if c.EnvFile != "" && c.PasswordEnv == "" {
		return badInputf("--env-file goes with --password-env NAME")
	}
	if c.PasswordEnv != "" {
		if !topology.IsEnvName(c.PasswordEnv) {
			return badInputf("--password-env %q is not an environment variable name (A-Z, 0-9 and _, not starting with a digit)", c.PasswordEnv)
		}
		if c.EnvFile == "" {
			c.EnvFile = ".env"
		}
		var err error
		if spec, err = topology.DefaultSpecWithPasswordEnv(c.PasswordEnv, c.EnvFile); err != nil {
			return err
		}
	}
	var envFile *envFileChange
	if c.PasswordEnv != "" {
		// The env file is read before anything is written: a file init
		// cannot use leaves no spec behind either.
		var err error
		if envFile, err = planEnvFile(c.EnvFile, c.PasswordEnv); err != nil {
			return err
		}
	}
	wrote, err := c.writeSpec(e, spec)
	if err != nil {
		return err
	}
	if envFile != nil {
		return envFile.apply(e)
	}
	if wrote {
		fmt.Fprintf(e.stderr, "citusgen: note: the password is written in it; citusgen init --password-env CITUS_PASSWORD keeps it out (password_env, and a .env file that docker compose reads)\n")
	}
	return nil
}

// writeSpec writes the spec where init was asked to, never over a file;
// wrote says it went to a file rather than standard output.
func (c initCmd) writeSpec(e *env, spec []byte) (wrote bool, err error) {
	if c.Path == "-" {
		_, err := e.stdout.Write(spec)
		return false, err
	}
	if fi, err := os.Lstat(c.Path); err == nil {
		out := emptyStdout(e.stdout)
		switch {
		case out != nil && os.SameFile(fi, out):
			// `citusgen init > citusgen.yaml`: the shell created the file
			// empty for our output, so writing it there loses nothing.
			_, err := e.stdout.Write(spec)
			return false, err
		case out != nil && c.Path == topology.SpecFile:
			// `citusgen init > other.yaml` beside an existing citusgen.yaml:
			// the shell made an empty file for the output, and that is where
			// the spec is wanted (init never overwrites citusgen.yaml).
			if _, err := e.stdout.Write(spec); err != nil {
				return false, err
			}
			fmt.Fprintf(e.stderr, "citusgen: %s exists, so the default topology went to standard output (your redirect)\n", c.Path)
			return false, nil
		case fi.Mode().IsRegular() && fi.Size() == 0:
			return false, badInputf("%s already exists (empty); citusgen init never overwrites a file: remove it and run citusgen init %s, which writes it itself", c.Path, c.Path)
		}
		return false, badInputf("%s already exists; citusgen init never overwrites a file: remove it or give another path", c.Path)
	}
	removeStale(e, c.Path)
	if err := atomicfile.WriteNew(c.Path, spec); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, badInputf("%s already exists; citusgen init never overwrites a file", c.Path)
		}
		return false, err
	}
	next := "citusgen render"
	if filepath.Clean(c.Path) != topology.SpecFile {
		next = "citusgen render -t " + c.Path
	}
	what := "the default topology, commented"
	if c.PasswordEnv != "" {
		what += ", password_env: " + c.PasswordEnv
	}
	fmt.Fprintf(e.stderr, "citusgen: wrote %s (%s); edit it, then: %s\n", c.Path, what, next)
	return true, nil
}

// emptyStdout is stdout's file when it is an empty regular file, as a
// shell redirect creates it for the output.
func emptyStdout(stdout io.Writer) os.FileInfo {
	if f, ok := stdout.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
			return fi
		}
	}
	return nil
}

// envFileChange is what init does to the env file: create it, add the
// variable to it, or keep it (it sets the variable already).
type envFileChange struct {
	path, name string
	tgt        *atomicfile.Target // nil: the file is created
	keep       bool
}

// planEnvFile reads the env file at path, if any, and decides what makes it
// set name.
func planEnvFile(path, name string) (*envFileChange, error) {
	ch := &envFileChange{path: path, name: name}
	tgt, err := atomicfile.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ch, nil
	}
	if err != nil {
		return nil, err
	}
	v, ok, err := composefile.EnvValue(tgt.Data, name)
	if err != nil {
		return nil, badInputf("%s is not an env file docker compose reads: %w; fix it, or name another file with --env-file", path, err)
	}
	if ok {
		if v == "" {
			return nil, badInputf("%s sets %s to an empty value, which docker compose refuses for the cluster password; put the password there and run again (citusgen init changes no line of yours)", path, name)
		}
		ch.keep = true
		return ch, nil
	}
	if err := tgt.CheckWritable(); err != nil {
		return nil, err
	}
	ch.tgt = tgt
	return ch, nil
}

// apply makes the change: a new file is mode 0600, a generated password is
// added to an existing one, keeping its mode.
func (ch *envFileChange) apply(e *env) error {
	export := fmt.Sprintf("for citusgen bootstrap, verify and Django, export it first: set -a; . %s; set +a", shellPath(ch.path))
	if ch.keep {
		fmt.Fprintf(e.stderr, "citusgen: %s sets %s already; kept it; %s\n", ch.path, ch.name, export)
		return nil
	}
	pw, err := composefile.NewPassword()
	if err != nil {
		return err
	}
	removeStale(e, ch.path)
	if ch.tgt == nil {
		data := fmt.Sprintf("# Read by docker compose from the directory of the compose file.\n"+
			"# Written by citusgen init: keep it out of version control.\n"+
			"%s=%s\n", ch.name, pw)
		if err := atomicfile.WriteNew(ch.path, []byte(data)); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s appeared while citusgen init ran; remove the spec it wrote and run it again", ch.path)
			}
			return err
		}
		fmt.Fprintf(e.stderr, "citusgen: wrote %s, setting %s to a generated password (mode 0600; the password is not shown)\n", ch.path, ch.name)
		fmt.Fprintf(e.stderr, "citusgen: docker compose reads %s when the compose file is in %s; %s\n", filepath.Base(ch.path), dirName(ch.path), export)
		if filepath.Base(ch.path) != ".env" {
			fmt.Fprintf(e.stderr, "citusgen: note: docker compose reads only .env by itself; pass it --env-file %s\n", shellPath(ch.path))
		}
		return nil
	}
	data := bytes.Clone(ch.tgt.Data)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	data = fmt.Appendf(data, "# Added by citusgen init --password-env: the Citus cluster's password.\n%s=%s\n", ch.name, pw)
	if err := ch.tgt.Replace(data); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "citusgen: added %s to %s, set to a generated password (the password is not shown); %s\n", ch.name, ch.path, export)
	if fi, err := os.Stat(ch.path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(e.stderr, "citusgen: note: %s is readable by others (mode %04o); chmod 600 %s\n", ch.path, fi.Mode().Perm(), shellPath(ch.path))
	}
	return nil
}

// dirName names path's directory for a message.
func dirName(path string) string {
	if d := filepath.Dir(path); d != "." {
		return d
	}
	return "the current directory"
}

// shellPath is path as a sh word: ./ in front of a relative path (. FILE
// searches PATH otherwise), quoted when it needs it.
func shellPath(path string) string {
	if !filepath.IsAbs(path) && !strings.HasPrefix(path, "./") && !strings.HasPrefix(path, "../") {
		path = "./" + path
	}
	if strings.ContainsFunc(path, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("./_-+", r))
	}) {
		return shellQuote(path)
	}
	return path
}
