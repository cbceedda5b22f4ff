package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/citusgen/citusgen/testsupport/dockertest"
	"github.com/citusgen/citusgen/testsupport/pgtest"
)

// What each shell offers, in a directory holding hq-compose.yml, spec.yaml
// and the directory sub. Candidates are compared as the shell would insert
// them into the current word: directories without their trailing "/", a
// --flag=value word without its "--flag=".
var completionCases = []struct {
	line string
	want []string
}{
	{"citusgen ", []string{"bootstrap", "check", "completion", "help", "import", "init", "plan", "render", "reset", "schema", "testrunner", "upgrade", "verify"}},
	{"citusgen ver", []string{"verify"}},
	{"citusgen render ", []string{"compose", "settings", "sql"}},
	{"citusgen render --", []string{"--adopt", "--allow-major-change", "--help", "--into", "--out", "--topology", "--version"}},
	{"citusgen render compose --", []string{"--adopt", "--allow-major-change", "--help", "--into", "--out", "--topology", "--version"}},
	{"citusgen render settings --", []string{"--adopt", "--help", "--into", "--topology", "--version"}},
	{"citusgen render sql --", []string{"--help", "--node", "--topology", "--version"}},
	{"citusgen --", []string{"--help", "--topology", "--version"}},
	{"citusgen -t ", completionFiles},
	{"citusgen --topology=", completionFiles},
	{"citusgen render -t ", completionFiles},
	{"citusgen verify --topology ", completionFiles},
	{"citusgen render --into ", completionFiles},
	{"citusgen render --into=s", []string{"spec.yaml", "sub"}},
	{"citusgen render settings --into ", completionFiles},
	{"citusgen render --out ", []string{"sub"}},
	{"citusgen check --compose ", completionFiles},
	{"citusgen check --settings h", []string{"hq-compose.yml"}},
	{"citusgen import --compose ", completionFiles},
	{"citusgen init ", completionFiles},
	{"citusgen verify --reach ", []string{"host", "network"}},
	{"citusgen verify --reach=n", []string{"network"}},
	{"citusgen bootstrap --reach ", []string{"host", "network"}},
	{"citusgen plan --ssl-mode ", []string{"allow", "disable", "prefer", "require", "verify-ca", "verify-full"}},
	{"citusgen completion ", []string{"bash", "fish", "zsh"}},
	{"citusgen help ", []string{"bootstrap", "check", "completion", "help", "import", "init", "plan", "render", "reset", "schema", "testrunner", "upgrade", "verify"}},
	{"citusgen help render ", []string{"compose", "settings", "sql"}},
	{"citusgen help render s", []string{"settings", "sql"}},
}

var completionFiles = []string{"hq-compose.yml", "spec.yaml", "sub"}

// TestCompletionShells sources `citusgen completion SHELL` into the real
// shell and asks it to complete each line, as pressing TAB would: bash
// (with and without the bash-completion package) through the function the
// script registers, zsh through its completion system in a pseudo-terminal,
// fish through complete -C.
func TestCompletionShells(t *testing.T) {
	bin := dockertest.Citusgen(t)
	dir := t.TempDir()
	for _, f := range []string{"hq-compose.yml", "spec.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir() // fish's history and variables, zsh's compinit dump
	shells := []struct {
		name, program string
		run           func(t *testing.T, line string) []string
	}{
		{"bash", "bash", func(t *testing.T, line string) []string { return bashComplete(t, bin, dir, line, "") }},
		{"bash-completion", "bash", func(t *testing.T, line string) []string {
			return bashComplete(t, bin, dir, line, "/usr/share/bash-completion/bash_completion")
		}},
		{"zsh", "zsh", func(t *testing.T, line string) []string { return zshComplete(t, bin, dir, home, line) }},
		{"fish", "fish", func(t *testing.T, line string) []string { return fishComplete(t, bin, dir, home, line) }},
	}
	for _, sh := range shells {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			if _, err := exec.LookPath(sh.program); err != nil {
				pgtest.SkipUnavailable(t, "%s is not installed (Debian: apt-get install %s)", sh.program, sh.program)
			}
			if sh.name == "bash-completion" {
				if _, err := os.Stat("/usr/share/bash-completion/bash_completion"); err != nil {
					pgtest.SkipUnavailable(t, "the bash-completion package is not installed (Debian: apt-get install bash-completion)")
				}
			}
			for _, c := range completionCases {
				got := normalizeCandidates(c.line, sh.run(t, c.line))
				if !slices.Equal(got, c.want) {
					t.Errorf("%s: %q completes to %q, want %q", sh.name, c.line, got, c.want)
				}
			}
		})
	}
}

// normalizeCandidates sorts and dedupes what a shell offered, with
// directories' "/" and a --flag= word's flag taken off.
func normalizeCandidates(line string, cands []string) []string {
	var flag string
	if i := strings.LastIndexAny(line, " "); i >= 0 {
		if word := line[i+1:]; strings.HasPrefix(word, "-") && strings.Contains(word, "=") {
			flag = word[:strings.Index(word, "=")+1]
		}
	}
	out := []string{}
	for _, c := range cands {
		if c == "" {
			continue
		}
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(c, flag), "/"))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func shellCommand(t *testing.T, dir string, name string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COMP_LINE=", "COMP_POINT=", completionShellEnv+"=")
	return cmd
}

// bashWords splits a line into COMP_WORDS as bash does with its default
// COMP_WORDBREAKS for the lines above: at blanks, and "=" a word of its own.
func bashWords(line string) []string {
	var words []string
	for _, f := range strings.Fields(line) {
		for i, part := range strings.Split(f, "=") {
			if i > 0 {
				words = append(words, "=")
			}
			if part != "" {
				words = append(words, part)
			}
		}
	}
	if strings.HasSuffix(line, " ") {
		words = append(words, "")
	}
	return words
}

const bashHarness = `
[ -n "$2" ] && source "$2"
eval "$("$1" completion bash)"
spec=$(complete -p citusgen) || exit 3
fn=${spec#*-F }; fn=${fn%% *}
COMP_LINE=$3; COMP_POINT=${#3}
shift 3
COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()
"$fn" citusgen "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
`

// bashComplete calls the function the script registers with complete -F,
// with COMP_WORDS, COMP_CWORD, COMP_LINE and COMP_POINT set as bash sets
// them on TAB; preload is a script sourced first (bash-completion).
func bashComplete(t *testing.T, bin, dir, line, preload string) []string {
	args := append([]string{"--norc", "--noprofile", "-c", bashHarness, "bash", bin, preload, line}, bashWords(line)...)
	out, err := shellCommand(t, dir, "bash", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("bash completing %q: %v\n%s", line, err, out)
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n")
}

// The zsh harness runs an interactive zsh in a pseudo-terminal (zpty),
// with compinit and citusgen's script loaded, types the line and TAB, and
// prints what every compadd call would add (compadd -O: the words that
// match what is typed); the completion ends the shell.
const zshInit = `
PS1='' RPS1='' PS2=''
unsetopt beep
autoload -Uz compinit && compinit -u -d "$CITUSGEN_ZCOMPDUMP"
bindkey '^I' complete-word
eval "$("$CITUSGEN_BIN" completion zsh)"
compadd() {
    if (( ${@[(I)-[OAD]*]} )); then builtin compadd "$@"; return; fi
    local -a __m
    builtin compadd -O __m "$@"
    print -rl -- "@@match:"${^__m}
    builtin compadd "$@"
}
__citusgen_test_end() { print -r -- "@@end"; exit }
comppostfuncs=(__citusgen_test_end)
print -r -- "@@ready"
`

const zshDriver = `
zmodload zsh/zpty
zpty cz 'zsh -f -i'
zpty -w cz "source ${(q)1}"
local out
zpty -r -m cz out '*@@ready*' || exit 3
zpty -w -n cz "$2"$'\t'
zpty -r -m cz out '*@@end*' || exit 4
print -r -- "$out"
zpty -d cz
`

var zshMatch = regexp.MustCompile(`@@match:([^\r\n]*)`)

// zshComplete completes line in a new zsh; home keeps the harness and
// compinit's dump, which makes the later shells start fast.
func zshComplete(t *testing.T, bin, dir, home, line string) []string {
	init := filepath.Join(home, "init.zsh")
	if err := os.WriteFile(init, []byte(zshInit), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := shellCommand(t, dir, "zsh", "-f", "-c", zshDriver, "zsh", init, line)
	cmd.Env = append(cmd.Env, "CITUSGEN_BIN="+bin, "CITUSGEN_ZCOMPDUMP="+filepath.Join(home, "zcompdump"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zsh completing %q: %v\n%q", line, err, out)
	}
	var cands []string
	for _, m := range zshMatch.FindAllStringSubmatch(string(out), -1) {
		cands = append(cands, m[1])
	}
	return cands
}

func fishComplete(t *testing.T, bin, dir, home, line string) []string {
	cmd := shellCommand(t, dir, "fish", "--no-config", "-c", `"$CITUSGEN_BIN" completion fish | source; complete -C "$CITUSGEN_LINE"`)
	cmd.Env = append(cmd.Env, "CITUSGEN_BIN="+bin, "CITUSGEN_LINE="+line, "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fish completing %q: %v\n%s", line, err, out)
	}
	var cands []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		c, _, _ := strings.Cut(l, "\t") // a description follows a tab
		cands = append(cands, c)
	}
	return cands
}
