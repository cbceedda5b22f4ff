package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/citusgen/citusgen/internal/atomicfile"
)

// interrupted is the cause a signal cancels the run's context with. The
// exit status is the shell's for a process a signal ended: 128 + its
// number (130 for SIGINT, 143 for SIGTERM).
type interrupted struct{ sig syscall.Signal }

func (i interrupted) Error() string { return "interrupted by " + i.name() }

func (i interrupted) name() string {
	switch i.sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return i.sig.String()
}

func (i interrupted) status() int { return 128 + int(i.sig) }

// stopGrace is how long a command may take to stop after the first signal
// before citusgen exits anyway: the commands that talk to servers stop
// within about 2 s, saying what still runs there.
const stopGrace = 5 * time.Second

// signalContext is the one signal mechanism, made once in main (run, which
// the tests call in-process, installs none): SIGINT and SIGTERM cancel the
// context every command runs with, and the command stops and says what it
// left. A second signal, or a command that does not stop within stopGrace,
// exits at once, after removing the temporary files of writes in flight
// (they may hold the password).
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
