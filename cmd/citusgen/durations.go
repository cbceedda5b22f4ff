package main

import (
	"strings"
	"time"
)

// Every duration flag has one meaning for 0 and refuses what it cannot
// mean, naming where the value came from:
//   - bootstrap, reset --wait (CITUSGEN_WAIT): 0 does not wait for the
//     nodes (each is tried once); negative is refused.
//   - verify --wait (CITUSGEN_VERIFY_WAIT): 0 (the default) checks once;
//     negative is refused.
//   - plan, verify --timeout (CITUSGEN_TIMEOUT): it bounds the run, so it
//     must be more than 0.

// source names where a flag's value came from: the flag when the
// arguments give it, else its environment variable.
func source(e *env, flag, envVar string) string {
	for _, a := range e.args {
		if a == "--" {
			break
		}
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return flag
		}
	}
	return envVar
}

// checkWait refuses a negative wait; zero means "do not wait", as each
// flag's help says (zero is what).
func checkWait(e *env, d time.Duration, flag, envVar, example, zero string) error {
	if d >= 0 {
		return nil
	}
	return badInputf("%s is %s, a negative duration: give how long to wait (for example %s), or 0 to %s", source(e, flag, envVar), d, example, zero)
}

// checkTimeout refuses a timeout that is not positive.
func checkTimeout(e *env, d time.Duration, flag, envVar string) error {
	if d > 0 {
		return nil
	}
	return badInputf("%s is %s: it bounds the whole run, so it must be more than 0: give for example 30s (the default)", source(e, flag, envVar), d)
}
