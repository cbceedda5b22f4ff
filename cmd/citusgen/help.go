package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"
)

type helpCmd struct {
	Command []string `arg:"" optional:"" predictor:"command" help:"The command, as you would type it (render sql)."`
}

// Run prints the usage of the named command the way --help does.
func (c helpCmd) Run(e *env) error {
	_, err := e.parser.Parse(append(append([]string{}, c.Command...), "--help"))
	if err != nil {
		return badInputf("help: %w", usageHint(err))
	}
	return nil
}

// printHelp is kong's help with one addition: a command whose subcommands
// have flags of their own (render) lists those flags too, each group under
// the command line that takes them, so `citusgen help render` shows
// `render --into FILE` although --into belongs to the default subcommand.
func printHelp(options kong.HelpOptions, ctx *kong.Context) error {
	node := ctx.Selected()
	if node == nil || len(node.Children) == 0 {
		return kong.DefaultHelpPrinter(options, ctx)
	}
	own := node.Flags
	defer func() { node.Flags = own }()
	flags := append([]*kong.Flag(nil), own...)
	for _, child := range node.Children {
		if child.Hidden {
			continue
		}
		title := "citusgen " + child.Path() + ":"
		if child == node.DefaultCmd {
			title = fmt.Sprintf("citusgen %s, the same as citusgen %s:", node.Path(), child.Path())
		}
		group := &kong.Group{Key: "citusgen-sub-" + child.Name, Title: title}
		for _, f := range child.Flags {
			if f.Hidden {
				continue
			}
			shown := *f
			shown.Group = group
			flags = append(flags, &shown)
		}
	}
	node.Flags = flags
	if node.DefaultCmd == nil {
		return kong.DefaultHelpPrinter(options, ctx)
	}
	// The subcommand is optional: say so in the usage line.
	out := ctx.Stdout
	var buf bytes.Buffer
	ctx.Stdout = &buf
	err := kong.DefaultHelpPrinter(options, ctx)
	ctx.Stdout = out
	if err != nil {
		return err
	}
	text := strings.Replace(buf.String(), " "+node.Path()+" <command> ", " "+node.Path()+" [<command>] ", 1)
	_, err = io.WriteString(out, text)
	return err
}

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

// completionShellEnv is set by the scripts completion prints, naming the
// shell.
const completionShellEnv = "CITUSGEN_COMPLETE"

// The directives: never a candidate, since candidates are flags (-...),
// command names and enum values.
const (
	pathFiles = ":files"
	pathDirs  = ":dirs"
)

// completionScripts ask citusgen for the candidates of the line being
// completed (COMP_LINE, COMP_POINT, as bash's complete -C passes them) and
// hand paths to the shell's own completion.
var completionScripts = map[string]string{
	"bash": `# citusgen completion for bash: eval "$(citusgen completion bash)"
_citusgen() {
    local cur=${COMP_WORDS[COMP_CWORD]} out IFS=$'\n'
    [[ $cur == = ]] && cur=
    out=$(CITUSGEN_COMPLETE=bash COMP_LINE=$COMP_LINE COMP_POINT=$COMP_POINT %[1]s 2>/dev/null) || return
    case $out in
    :files) if declare -F _filedir >/dev/null; then _filedir; else compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); fi ;;
    :dirs) if declare -F _filedir >/dev/null; then _filedir -d; else compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); fi ;;
    *) COMPREPLY=($out) ;;
    esac
}
complete -F _citusgen citusgen
`,
	"zsh": `# citusgen completion for zsh: eval "$(citusgen completion zsh)" (after compinit)
_citusgen() {
    local line="${(j: :)words[1,CURRENT-1]} $PREFIX"
    local -a out
    out=(${(f)"$(CITUSGEN_COMPLETE=zsh COMP_LINE=$line COMP_POINT=${#line} %[1]s 2>/dev/null)"})
    [[ $PREFIX == -*=* ]] && compset -P '*='
    case $out[1] in
    (:files) _files ;;
    (:dirs) _files -/ ;;
    (*) (( $#out )) && compadd -- $out ;;
    esac
}
(( $+functions[compdef] )) || { autoload -Uz compinit && compinit -i }
compdef _citusgen citusgen
`,
	"fish": `# citusgen completion for fish: citusgen completion fish | source
function __citusgen_complete
    set -l line (commandline -cp)
    set -l token (commandline -ct)
    # A --flag=value token: complete the value, keep the flag in front.
    set -l flag (string match -r -- '^-[^=]*=' $token)
    set token (string sub -s (math (string length -- "$flag") + 1) -- $token)
    set -l out (env CITUSGEN_COMPLETE=fish COMP_LINE="$line" COMP_POINT=(string length -- "$line") %[1]s 2>/dev/null)
    switch "$out[1]"
        case :files
            set out (__fish_complete_path "$token")
        case :dirs
            set out (__fish_complete_directories "$token" '')
    end
    for c in $out
        printf '%%s%%s\n' "$flag" (string replace -r -- '\t.*' '' $c)
    end
end
complete -c citusgen -f -a '(__citusgen_complete)'
`,
}

func (c completionCmd) Run(e *env) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find citusgen's own path: %w", err)
	}
	if abs, err := filepath.Abs(bin); err == nil {
		bin = abs
	}
	quoted := shellQuote(bin)
	if c.Shell == "fish" {
		quoted = fishQuote(bin)
	}
	_, err = fmt.Fprintf(e.stdout, completionScripts[c.Shell], quoted)
	return err
}

// shellQuote quotes s for sh, bash and zsh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// fishQuote quotes s for fish, whose single quotes take \\ and \' escapes.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// completeLine answers a shell that asks for the candidates of line, cut
// at point (bytes, as COMP_POINT): one per line, sorted, or one path
// directive when the shell completes paths itself.
func completeLine(parser *kong.Kong, line string, point int, shellPaths bool, w io.Writer) error {
	model, err := completionModel(parser, shellPaths)
	if err != nil {
		return err
	}
	if point >= 0 && point < len(line) {
		line = line[:point]
	}
	a := completionArgs(line)
	var out []string
	for _, o := range model.Predict(a) {
		if o == pathFiles || o == pathDirs {
			out = []string{o}
			break
		}
		if strings.HasPrefix(o, a.Last) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	for _, o := range slices.Compact(out) {
		if _, err := fmt.Fprintln(w, o); err != nil {
			return err
		}
	}
	return nil
}

// completionEnv reads what the shell passed: the line, the cursor and
// whether the script completes paths itself.
func completionEnv() (line string, point int, shellPaths bool) {
	line = os.Getenv("COMP_LINE")
	point, err := strconv.Atoi(os.Getenv("COMP_POINT"))
	if err != nil {
		point = len(line)
	}
	return line, point, os.Getenv(completionShellEnv) != ""
}

// completionArgs splits the line as posener/complete does, except that
// only a flag's last word splits at "=" (--reach=ho completes ho as the
// value of --reach; a path with "=" in it stays whole).
func completionArgs(line string) complete.Args {
	parts := strings.Fields(line)
	if line != "" && strings.TrimRight(line, " \t\n") != line {
		parts = append(parts, "")
	}
	if n := len(parts); n > 0 && strings.HasPrefix(parts[n-1], "-") {
		if flag, value, ok := strings.Cut(parts[n-1], "="); ok {
			parts = append(parts[:n-1], flag, value)
		}
	}
	var a complete.Args
	if len(parts) > 0 {
		a.All = parts[1:]
		a.Completed = a.All[:len(a.All)-1]
		if len(a.All) == 0 {
			a.Completed = nil
		}
		a.Last = parts[len(parts)-1]
		if len(a.Completed) > 0 {
			a.LastCompleted = a.Completed[len(a.Completed)-1]
		}
	}
	return a
}

// completionModel is kongplete's model of the command line with citusgen's
// predictors, and two things kongplete cannot know: a command's default
// subcommand takes its flags without being named (render --into FILE),
// and --topology may come before the command (citusgen -t FILE render).
func completionModel(parser *kong.Kong, shellPaths bool) (complete.Command, error) {
	files := pathPredictor{shellPaths: shellPaths}
	cmd, err := kongplete.Command(parser,
		kongplete.WithPredictor("file", files),
		kongplete.WithPredictor("dir", pathPredictor{dirs: true, shellPaths: shellPaths}),
		kongplete.WithPredictor("reach", complete.PredictSet("host", "network")),
		kongplete.WithPredictor("command", commandPredictor{parser.Model}),
	)
	if err != nil {
		return cmd, err
	}
	addDefaultFlags(&cmd, parser.Model.Node)
	if cmd.Flags == nil {
		cmd.Flags = complete.Flags{}
	}
	// Flags, not GlobalFlags: offered before the command only, since
	// commands that read no spec refuse it.
	cmd.Flags["--topology"] = files
	cmd.Flags["-t"] = files
	return cmd, nil
}

// addDefaultFlags offers the flags of each command's default subcommand on
// the command itself, where they work while no subcommand is named.
func addDefaultFlags(cmd *complete.Command, node *kong.Node) {
	for _, child := range node.Children {
		sub, ok := cmd.Sub[child.Name]
		if !ok {
			continue
		}
		addDefaultFlags(&sub, child)
		cmd.Sub[child.Name] = sub
	}
	if node.DefaultCmd == nil {
		return
	}
	def, ok := cmd.Sub[node.DefaultCmd.Name]
	if !ok {
		return
	}
	if cmd.Flags == nil {
		cmd.Flags = complete.Flags{}
	}
	for name, p := range def.GlobalFlags {
		cmd.Flags[name] = p
	}
}

// pathPredictor completes a file (or directory) path: with a completion
// script of citusgen's, by the directive that hands it to the shell.
type pathPredictor struct {
	dirs       bool
	shellPaths bool
}

func (p pathPredictor) Predict(a complete.Args) []string {
	if strings.HasPrefix(a.Last, "-") {
		return nil // a flag, not a path
	}
	switch {
	case p.shellPaths && p.dirs:
		return []string{pathDirs}
	case p.shellPaths:
		return []string{pathFiles}
	case p.dirs:
		return complete.PredictDirs("*").Predict(a)
	}
	return complete.PredictFiles("*").Predict(a)
}

// commandPredictor completes the command words of `citusgen help`.
type commandPredictor struct{ app *kong.Application }

func (p commandPredictor) Predict(a complete.Args) []string {
	children := p.app.Children
	for _, w := range a.Completed {
		i := slices.IndexFunc(children, func(c *kong.Node) bool { return c.Name == w && !c.Hidden })
		if i < 0 {
			return nil
		}
		children = children[i].Children
	}
	var names []string
	for _, c := range children {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	return names
}
