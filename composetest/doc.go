// Package composetest runs what `citusgen render` writes with the real
// Docker engine and the real `docker compose` CLI: compose decides what
// starts, what is recreated and when --wait returns, not a model of it.
// Its tests are all in _test files; this package has no API. They run in a
// package of their own so that they overlap with the command's other tests
// (go test runs packages side by side).
package composetest
