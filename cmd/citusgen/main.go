// Command citusgen renders and checks a Citus cluster for a Django app from
// one topology spec.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/settingsfile"
)

// version is set at build time with -ldflags "-X main.version=..."; without
// it the module version and VCS revision come from the build info.
var version = ""

// versionString says which citusgen this is: the module version, the VCS
// revision it was built from (and whether the tree had changes), and Go's.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	v := version
	if v == "" && ok {
		v = info.Main.Version
	}
	if v == "" {
		v = "(unknown)"
	}
	out := "citusgen " + v
	if !ok {
		return out
	}
	vcs := map[string]string{}
	for _, s := range info.Settings {
		vcs[s.Key] = s.Value
	}
	if rev := vcs["vcs.revision"]; rev != "" {
		out += ", revision " + rev
		if vcs["vcs.modified"] == "true" {
			out += " (modified)"
		}
		if when := vcs["vcs.time"]; when != "" {
			out += " of " + when
		}
	}
	return out + ", " + info.GoVersion
}

type cli struct {
	Render     renderCmd        `cmd:"" help:"Render the compose document (default), the Django settings or the bootstrap SQL."`
	Bootstrap  bootstrapCmd     `cmd:"" help:"Apply what plan lists to the live nodes: wait for them, create databases and the extension, register and repair workers. Safe to re-run; exit 1 while something is left (it names the flag or step it needs)."`
	Verify     verifyCmd        `cmd:"" help:"Check the live cluster against the topology; exit 0 all pass, 1 a check failed, 2 bad input, 3 a node could not be read (unreachable from here, silent, not PostgreSQL, password rejected) and the cluster does not show it down either."`
	Plan       planCmd          `cmd:"" help:"List what bootstrap would change on the live cluster (read-only); exit 0 in sync, 1 changes pending, 2 bad input, 3 a node could not be read (down, silent, not PostgreSQL, password rejected)."`
	Check      checkCmd         `cmd:"" help:"Compare existing compose and settings files with what the topology renders; exit 1 with a diff on drift."`
	Import     importCmd        `cmd:"" help:"Print a topology spec (YAML) that reproduces the Citus cluster of an existing compose file and Django settings."`
	Upgrade    upgradeCmd       `cmd:"" help:"Move the cluster to the images the spec names with the data kept: a new Citus release, a new PostgreSQL major, or both (pg_upgrade per node). Prints the plan; --apply runs it, --rollback undoes it."`
	Reset      resetCmd         `cmd:"" help:"Destructive: end sessions, drop and recreate the cluster database on every node (needs --yes)."`
	Password   passwordCmd      `cmd:"" help:"Change the cluster's password on every node to the topology's (ALTER ROLE, pg_dist_authinfo), then in --compose, --settings and the .env; the old password from $CITUSGEN_OLD_PASSWORD or the .env. Safe to re-run."`
	Init       initCmd          `cmd:"" help:"Write a commented starter topology (the default); never overwrites."`
	Schema     schemaCmd        `cmd:"" help:"Print the JSON Schema of the topology, for editors."`
	Testrunner testrunnerCmd    `cmd:"" help:"Print citus_testrunner.py, the Django test runner that tears the dev profile's test databases down on Citus: citusgen testrunner > citus_testrunner.py."`
	Completion completionCmd    `cmd:"" help:"Print the shell code that completes citusgen's commands and flags: eval \"$(citusgen completion bash)\"."`
	Help       helpCmd          `cmd:"" help:"Show the help of a command: citusgen help verify."`
	Version    kong.VersionFlag `help:"Print the version (module version and VCS revision) and exit."`
}

// env is what commands get from run: the streams, the parsed flags, kong's
// parse of the command line, and the context a signal cancels.
type env struct {
	ctx    context.Context
	cli    *cli
	parser *kong.Kong
	kctx   *kong.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// specDir is the absolute folder of the spec the command runs on, ""
	// for the embedded default and stdin (specFlag.spec sets it).
	specDir string
}

// source names where a flag's value came from: the flag when the command
// line gives it (kong's parse path holds only those), else its
// environment variable.
func (e *env) source(name string) string {
	for _, p := range e.kctx.Path {
		if p.Flag != nil && !p.Resolved && p.Flag.Name == name {
			return "--" + name
		}
	}
	for _, f := range e.kctx.Flags() {
		if f.Name == name && len(f.Envs) > 0 {
			return f.Envs[0]
		}
	}
	return "--" + name
}

// print writes what a command rendered to standard output.
func (e *env) print(out []byte, err error) error {
	if err == nil {
		_, err = e.stdout.Write(out)
	}
	return err
}

// printJSON writes v to standard output as indented JSON.
func (e *env) printJSON(v any) error {
	out, err := json.MarshalIndent(v, "", "  ")
	return e.print(append(out, '\n'), err)
}

func main() {
	stderr := messageWriter{os.Stderr}
	ctx, stop := signalContext(stderr)
	code := runContext(ctx, os.Args[1:], os.Stdin, os.Stdout, stderr)
	stop()
	os.Exit(code)
}

// runContext runs the command args name with ctx, which main's signals
// cancel: a command stopped by one exits 128 + the signal's number (130
// for SIGINT, 143 for SIGTERM), saying what it stopped and what it left.
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	// stderr carries messages only, and they quote the user's files and
	// spec: an escape sequence there must not reach the terminal.
	if _, ok := stderr.(messageWriter); !ok {
		stderr = messageWriter{stderr}
	}
	// compose-go warns through logrus about every unset ${VAR}; unset is the
	// normal case for the variables we emit, so only errors are shown.
	logrus.SetOutput(stderr)
	logrus.SetLevel(logrus.ErrorLevel)

	var c cli
	parser, err := newParser(&c, stdout, stderr)
	if err != nil {
		return report(stderr, err)
	}
	defer func() {
		if r := recover(); r != nil {
			k, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			if code = exitOK; k != 0 {
				code = exitBadInput
			}
		}
	}()
	// A shell asking for completions (COMP_LINE set) is answered here; the
	// completion model is built only then, not on every run.
	if line, point, shellPaths := completionEnv(); line != "" {
		if err := completeLine(parser, line, point, shellPaths, stdout); err != nil {
			return report(stderr, fmt.Errorf("completion: %w", err))
		}
		return exitOK
	}
	if len(args) == 0 {
		args = []string{"--help"} // bare citusgen: the full usage
	}
	args = topologyFlagLast(args)
	kctx, err := parser.Parse(args)
	if err != nil {
		return report(stderr, badInput{usageHint(err)})
	}
	// The python3 that read settings files ends with the run, not after it.
	defer settingsfile.Close()
	err = kctx.Run(&env{ctx: ctx, cli: &c, parser: parser, kctx: kctx, stdin: stdin, stdout: stdout, stderr: stderr})
	if sig, ok := signaled(ctx); ok && err != nil {
		// Whatever the error says, it says it because of the signal.
		fmt.Fprintf(stderr, "citusgen: %s: %s\n", sig, strings.TrimSpace(err.Error()))
		return sig.status()
	}
	return report(stderr, err)
}

// usageHint adds where the usage is to a command-line error: kong names
// what is wrong, and the close command word when there is one, but not
// where to look when nothing is close (render's default subcommand takes
// any word, so a mistyped render subcommand gets no suggestion).
func usageHint(err error) error {
	var perr *kong.ParseError
	if !errors.As(err, &perr) || perr.Context == nil {
		return err
	}
	n := perr.Context.Selected()
	if n == nil {
		return fmt.Errorf("%w (citusgen --help lists the commands)", err)
	}
	if n.Parent != nil && n.Parent.DefaultCmd == n {
		n = n.Parent
	}
	return fmt.Errorf("%w (citusgen help %s shows what it takes)", err, n.Path())
}

// messageWriter escapes what a terminal would act on (quote.Text) in
// everything written to it.
type messageWriter struct{ w io.Writer }

func (m messageWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(m.w, quote.Text(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// newParser is citusgen's command line; kong's exit panics with kongExit,
// which run recovers.
func newParser(c *cli, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(c,
		kong.Name("citusgen"),
		kong.Description("Render and check a Citus cluster (compose services, Django settings, bootstrap SQL) from one topology spec."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(kongExit(code)) }),
		kong.Vars{"version": versionString()},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Help(printHelp),
	)
}

// topologyFlagLast moves a --topology/-t written before the command
// (citusgen -t spec.yaml render, as older versions took it) behind it, where
// the commands that read a spec declare it; commands that read none then
// refuse it by name.
func topologyFlagLast(args []string) []string {
	var moved, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case len(rest) > 0 || a == "--":
			rest = append(rest, a)
		case (a == "-t" || a == "--topology") && i+1 < len(args):
			moved = append(moved, a, args[i+1])
			i++
		case strings.HasPrefix(a, "--topology=") || strings.HasPrefix(a, "-t="):
			moved = append(moved, a)
		case strings.HasPrefix(a, "-"):
			moved = append(moved, a) // another flag before the command
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) == 0 {
		return args
	}
	return append(rest, moved...)
}

// interrupted is the cause a signal cancels the run's context with.
type interrupted struct{ sig syscall.Signal }

func (i interrupted) Error() string { return "interrupted by " + i.name() }

func (i interrupted) name() string { return unix.SignalName(i.sig) }

func (i interrupted) status() int { return 128 + int(i.sig) }

// stopGrace is how long a command may take to stop after the first signal
// before citusgen exits anyway: the commands that talk to servers stop
// within about 2 s, saying what still runs there.
const stopGrace = 5 * time.Second

// signalContext is the one signal mechanism, made once in main (run, which
// the tests call in-process, installs none): SIGINT and SIGTERM cancel the
// context every command runs with, and the command stops and says what it
// left.
func signalContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var first interrupted
		select {
		case s := <-sigs:
			first = interrupted{s.(syscall.Signal)}
		case <-done:
			return
		}
		cancel(first)
		exit := func(i interrupted, why string) {
			atomicfile.RemoveTemps()
			fmt.Fprintf(stderr, "citusgen: %s: %s; stopping at once (what it started on a server may still run there: citusgen plan shows it)\n", i.name(), why)
			os.Exit(i.status())
		}
		select {
		case s := <-sigs:
			exit(interrupted{s.(syscall.Signal)}, "a second signal")
		case <-time.After(stopGrace):
			exit(first, fmt.Sprintf("the command did not stop within %s", stopGrace))
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
	}
}

// signaled is the signal that canceled ctx, if one did.
func signaled(ctx context.Context) (interrupted, bool) {
	var i interrupted
	ok := errors.As(context.Cause(ctx), &i)
	return i, ok
}
