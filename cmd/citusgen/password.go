package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/citusgen/citusgen/bootstrap"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/composefile"
	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/topology"
)

type passwordCmd struct {
	liveFlags
	nodeWait `embed:"" set:"wait_help=How long to wait for each node to accept connections, and for each statement. 0: try each node once (statements are then bounded by 60s); negative values are refused."`
	Compose  string `placeholder:"FILE" predictor:"file" help:"Also update citusgen's regions of this compose file, as render --into does (an inline password is in the nodes' environment there), once every node has the new password."`
	Settings string `placeholder:"FILE" predictor:"file" help:"Also update the citusgen block of this localsettings.py, as render settings --into does (an inline password is its PASSWORD), once every node has the new password."`
	EnvFile  string `placeholder:"FILE" predictor:"file" help:"With password_env: the env file docker compose reads the password from; the password it holds is tried as the old one, and once every node has the new one its line is rewritten (every other line kept). Default: .env beside --compose, else ./.env."`
}

// Help is the detail of `citusgen help password`: the recipe.
func (passwordCmd) Help() string {
	return `The nodes keep the password their volume was initialised with (the image
applies POSTGRES_PASSWORD only to an empty volume), so a new password in
the topology makes every node, and the citus_setup service, refuse it.
This command changes it on every node (ALTER ROLE and pg_dist_authinfo),
then in the files that hold it. The old password comes from the
environment, never from the command line: $` + topology.OldPasswordEnv + `, and with
password_env also the env file. Run it again if it stops: it tries the old
and the new password on every node and says which one each has.

    # password: in the topology
    edit citusgen.yaml                                  # the new password
    read -rs ` + topology.OldPasswordEnv + `; export ` + topology.OldPasswordEnv + `   # the old one, not echoed
    citusgen password --compose hq-compose.yml --settings localsettings.py
    docker compose -f hq-compose.yml up -d --wait
    citusgen verify

    # password_env: CITUS_PASSWORD, kept in .env beside the compose file
    read -rs CITUS_PASSWORD; export CITUS_PASSWORD      # the new one; .env holds the old
    citusgen password --compose hq-compose.yml          # rewrites CITUS_PASSWORD in .env last
    docker compose -f hq-compose.yml up -d --wait
    citusgen verify`
}

// passwordWrite is a file the command rewrites once every node has the
// new password.
type passwordWrite struct {
	tgt  *atomicfile.Target
	data []byte
	env  string // the variable, for the env file
}

func (c *passwordCmd) Run(e *env) error {
	if err := c.check(e); err != nil {
		return err
	}
	t, o, err := c.live(e)
	if err != nil {
		if t != nil && t.PasswordEnv != "" && os.Getenv(t.PasswordEnv) == "" {
			return badInputf("the topology takes the password from $%s, which is not set: put the new password in it (read -rs %s; export %s); the nodes' old password comes from %s or $%s", t.PasswordEnv, t.PasswordEnv, t.PasswordEnv, c.envPath(), topology.OldPasswordEnv)
		}
		return err
	}
	if !t.HasPassword() {
		return badInputf("the topology has no password (trust_authentication: true), so there is none to change: give it password or password_env first")
	}
	newSource := "the topology's password"
	if t.PasswordEnv != "" {
		newSource = "$" + t.PasswordEnv
	}
	var old []bootstrap.Password
	if v := os.Getenv(topology.OldPasswordEnv); v != "" {
		old = append(old, bootstrap.Password{Source: "$" + topology.OldPasswordEnv, Value: v})
	}
	envWrite, envOld, err := c.envFile(e, t, o.Password)
	if err != nil {
		return err
	}
	if envOld != "" {
		old = append(old, bootstrap.Password{Source: c.envPath(), Value: envOld})
	}
	redact := func(s string) string {
		s = cluster.Redact(s, o.Password, t.User)
		for _, p := range old {
			s = cluster.Redact(s, p.Value, t.User)
		}
		return s
	}

	// The files are merged and checked before any node changes, so a file
	// citusgen would refuse stops the run while nothing is changed yet.
	var writes []passwordWrite
	if c.Compose != "" {
		tgt, data, err := mergeCompose(e, t, c.Compose, false, false)
		if err != nil {
			return err
		}
		writes = append(writes, passwordWrite{tgt: tgt, data: data})
	}
	if c.Settings != "" {
		tgt, err := openInput(c.Settings, "; to create it, run citusgen render settings --into "+c.Settings)
		if err != nil {
			return err
		}
		removeStale(e, c.Settings)
		data, err := mergeSettings(e, t, c.Settings, tgt.Data, false)
		if err != nil {
			return err
		}
		writes = append(writes, passwordWrite{tgt: tgt, data: data})
	}
	if envWrite != nil {
		writes = append(writes, *envWrite) // last: it holds the old password until every node has the new one
	}

	noOld := fmt.Sprintf("put it in %s (read -rs %s; export %s) and run citusgen password again", topology.OldPasswordEnv, topology.OldPasswordEnv, topology.OldPasswordEnv)
	res, err := bootstrap.ChangePassword(e.ctx, t, c.bootstrapOptions(e, o),
		bootstrap.PasswordChange{New: bootstrap.Password{Source: newSource, Value: o.Password}, Old: old, NoOld: noOld})
	if err != nil {
		msg := redact(err.Error())
		untouched := "no file was changed"
		if envWrite != nil {
			untouched += fmt.Sprintf(" (%s keeps the old password until every node has the new one)", envWrite.tgt.Path)
		}
		if e.ctx.Err() != nil {
			return redacted{"password change " + msg + "; " + untouched, err}
		}
		return redacted{fmt.Sprintf("password change incomplete: %s\n%s; once the nodes above are fixed, run citusgen password again: nodes that have the new password are kept as they are", strings.TrimSpace(msg), untouched), err}
	}

	for _, w := range writes {
		if w.env != "" {
			if err := w.tgt.ReplaceContext(e.ctx, w.data); err != nil {
				return stopped(e, w.tgt.Path, err)
			}
			fmt.Fprintf(e.stderr, "citusgen: %s sets %s to the new password now (the password is not shown; every other line is kept)\n", w.tgt.Path, w.env)
			continue
		}
		if err := writeIfChanged(e, w.tgt, w.data); err != nil {
			return err
		}
	}
	c.summary(e, t, res, envWrite)
	return nil
}

// envPath is the env file docker compose reads: --env-file, else .env
// beside the compose file, else in the current directory.
func (c *passwordCmd) envPath() string {
	switch {
	case c.EnvFile != "":
		return c.EnvFile
	case c.Compose != "":
		return filepath.Join(filepath.Dir(c.Compose), ".env")
	}
	return ".env"
}

// envFile reads the env file of a topology with password_env: the password
// it holds (an old one, tried first) and the rewrite that gives it the new
// one (nil when it holds it already, or sets no such variable).
func (c *passwordCmd) envFile(e *env, t *topology.Topology, password string) (*passwordWrite, string, error) {
	if t.PasswordEnv == "" {
		if c.EnvFile != "" {
			return nil, "", badInputf("--env-file goes with a topology that takes the password from the environment (password_env); this one has it inline (password)")
		}
		return nil, "", nil
	}
	path := c.envPath()
	tgt, err := atomicfile.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if c.EnvFile != "" {
			return nil, "", badInputf("--env-file %s does not exist", path)
		}
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	v, set, err := composefile.EnvValue(tgt.Data, t.PasswordEnv)
	if err != nil {
		return nil, "", badInputf("%s: %v; fix it, or name another file with --env-file", path, composefile.EnvSyntax(err))
	}
	if !set {
		fmt.Fprintf(e.stderr, "citusgen: note: %s does not set %s, so it stays as it is: set the new password wherever docker compose gets %s from\n", path, t.PasswordEnv, t.PasswordEnv)
		return nil, "", nil
	}
	if v == password {
		return nil, "", nil
	}
	data, err := composefile.SetEnvValue(tgt.Data, t.PasswordEnv, password)
	if err != nil {
		return nil, "", badInputf("%s: %v; set %s there yourself once every node has the new password", path, err, t.PasswordEnv)
	}
	removeStale(e, path)
	if err := tgt.CheckWritable(); err != nil {
		return nil, "", err
	}
	return &passwordWrite{tgt: tgt, data: data, env: t.PasswordEnv}, v, nil
}

// summary says what the nodes had and what is left to do.
func (c *passwordCmd) summary(e *env, t *topology.Topology, res *bootstrap.PasswordResult, envWrite *passwordWrite) {
	had := []string{}
	if n := len(res.Changed); n > 0 {
		had = append(had, fmt.Sprintf("%d had the old one and %s the new one now", n, map[bool]string{true: "has", false: "have"}[n == 1]))
	}
	if n := len(res.Already); n > 0 {
		had = append(had, fmt.Sprintf("%d had the new one already", n))
	}
	fmt.Fprintf(e.stderr, "citusgen: password changed on every node: of %d nodes, %s; pg_dist_authinfo holds it on %d", len(t.Nodes()), strings.Join(had, ", "), len(res.Credentials))
	if len(res.NoCitus) > 0 {
		fmt.Fprintf(e.stderr, " (%s %s no Citus yet: bootstrap stores it there)", strings.Join(res.NoCitus, ", "), map[bool]string{true: "has", false: "have"}[len(res.NoCitus) == 1])
	}
	fmt.Fprintln(e.stderr)
	if len(res.Changed) == 0 && envWrite == nil && t.PasswordEnv != "" {
		fmt.Fprintf(e.stderr, "citusgen: nothing to change: every node has the password $%s holds. To change it, put the new one in %s (the old one stays in %s or goes in $%s) and run citusgen password again\n", t.PasswordEnv, t.PasswordEnv, c.envPath(), topology.OldPasswordEnv)
	}
	images := slices.ContainsFunc(t.Nodes(), topology.Node.RunsFromImage)
	var next []string
	if t.PasswordEnv == "" {
		if c.Compose == "" && images {
			next = append(next, "citusgen render --into hq-compose.yml (or the compose file you run), whose nodes still have the old password in their environment")
		}
		if c.Settings == "" {
			next = append(next, "citusgen render settings --into localsettings.py, for Django")
		}
	} else {
		next = append(next, fmt.Sprintf("give citusgen and Django the new $%s too (set -a; . %s; set +a)", t.PasswordEnv, shellPath(c.envPath())))
	}
	if images {
		up := "docker compose up -d --wait"
		if c.Compose != "" {
			up = "docker compose -f " + shellPath(c.Compose) + " up -d --wait"
		}
		next = append(next, up+" (recreates the nodes with the new password in their environment and runs citus_setup again)")
	}
	next = append(next, "citusgen verify")
	fmt.Fprintf(e.stderr, "citusgen: next: %s\n", strings.Join(next, "; then "))
}
