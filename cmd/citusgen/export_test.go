package main

import (
	"context"
	"io"
)

// run is citusgen without signal handling, for the tests that call it
// in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdin, stdout, stderr)
}
