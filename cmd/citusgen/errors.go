package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/regions"
	"github.com/citusgen/citusgen/topology"
)

// Exit statuses. exitStatus is the one place that picks one.
const (
	exitOK       = 0
	exitFailed   = 1 // a check failed or the work could not be done
	exitBadInput = 2 // bad spec, flags, arguments or input files
	exitUnread   = 3 // plan, verify: part of the live cluster could not be read
)

// badInput is a problem with what the user gave citusgen (flags,
// arguments, a file): exit 2. It wraps the error that says what.
type badInput struct{ err error }

func (e badInput) Error() string { return e.err.Error() }
func (e badInput) Unwrap() error { return e.err }

// badInputf is a badInput with a message of its own.
func badInputf(format string, args ...any) error {
	return badInput{fmt.Errorf(format, args...)}
}

// errShown: the command printed what failed already (a report, a plan,
// diffs); exit 1 without another word.
var errShown = errors.New("shown above")

// couldNotRead: part of the cluster could not be read, so the report or
// plan is incomplete (exit 3).
type couldNotRead struct {
	problems []live.Problem
	redact   func(string) string
	what     string
}

func (c couldNotRead) Error() string {
	var b strings.Builder
	for _, p := range c.problems {
		fmt.Fprintf(&b, "could not read %s: %s\n", p.Node, oneLine(c.redact(p.Detail)))
		if p.Hint != "" {
			fmt.Fprintf(&b, "  hint: %s\n", oneLine(c.redact(p.Hint)))
		}
	}
	b.WriteString(c.what)
	return b.String()
}

// redacted is an error whose message hides the password (a server may
// quote it back); errors.As still finds what it wraps.
type redacted struct {
	msg string
	err error
}

func (e redacted) Error() string { return e.msg }
func (e redacted) Unwrap() error { return e.err }

// kongExit is kong's own exit (after --help, or a usage error it printed),
// raised as a panic that run recovers.
type kongExit int

// exitStatus maps what went wrong to the exit status.
func exitStatus(err error) int {
	var unread couldNotRead
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errShown):
		return exitFailed
	case errors.As(err, &unread):
		return exitUnread
	case isBadInput(err):
		return exitBadInput
	}
	return exitFailed
}

// isBadInput: the error is about the user's input: a badInput, a spec
// that does not decode, a file citusgen refuses to read or replace, or a
// file a merge refuses.
func isBadInput(err error) bool {
	return errors.As(err, new(badInput)) || errors.As(err, new(topology.Errors)) || errors.As(err, new(*topology.FieldError)) ||
		errors.As(err, new(*atomicfile.UnsafeError)) || errors.As(err, new(inFile))
}

// report prints err on stderr, as each kind is said, and returns the exit
// status.
func report(stderr io.Writer, err error) int {
	code := exitStatus(err)
	var unread couldNotRead
	var specErrs topology.Errors
	var fieldErr *topology.FieldError
	switch {
	case err == nil || errors.Is(err, errShown):
		// nothing more to say
	case errors.As(err, &unread):
		fmt.Fprintln(stderr, "citusgen: "+strings.ReplaceAll(strings.TrimSpace(unread.Error()), "\n", "\ncitusgen: "))
	case errors.As(err, &specErrs):
		fmt.Fprintln(stderr, specErrs.Error())
		them := "them"
		if len(specErrs) == 1 {
			them = "it"
		}
		fmt.Fprintf(stderr, "citusgen: the topology has %s; fix %s and run again (nothing was written)\n", english.Plural(len(specErrs), "problem"), them)
	case errors.As(err, &fieldErr):
		fmt.Fprintln(stderr, "citusgen: "+fieldErr.Error())
	default:
		fmt.Fprintln(stderr, "citusgen: "+strings.TrimSpace(err.Error()))
	}
	return code
}

// inFile is a merge refused for problems in the user's file, each named
// at path:line.
type inFile struct {
	path string
	err  error // regions.Problems or *regions.MergeError
}

func (e inFile) Unwrap() error { return e.err }

func (e inFile) Error() string {
	var problems regions.Problems
	var me *regions.MergeError
	switch {
	case errors.As(e.err, &problems):
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = locate(e.path, p)
		}
		return fmt.Sprintf("%s has %s; nothing was written:\n%s", e.path, english.Plural(len(problems), "problem"), strings.Join(msgs, "\n"))
	case errors.As(e.err, &me):
		return locate(e.path, me)
	}
	return e.err.Error()
}

// mergeError names the file in a merge's refusal; other errors pass.
func mergeError(path string, err error) error {
	var problems regions.Problems
	var me *regions.MergeError
	if errors.As(err, &problems) || errors.As(err, &me) {
		return inFile{path, err}
	}
	return err
}

func locate(path string, me *regions.MergeError) string {
	if me.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", path, me.Line, me.Msg)
	}
	return fmt.Sprintf("%s: %s", path, me.Msg)
}

// oneLine folds line breaks (and tabs, which would shift the table's
// columns) into spaces.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == '\t' }), " ")
}
