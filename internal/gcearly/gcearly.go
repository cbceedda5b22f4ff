// Package gcearly raises the garbage collector's target before the heavy
// package initialisers run (compose-go's JSON Schema package compiles every
// draft's meta-schema at init, a few MB of garbage). A citusgen process lives
// for milliseconds: collecting on the way costs more than it frees. Go
// initialises packages in import-path order once their imports are ready,
// so this small package, imported by main, runs before those.
package gcearly

import "runtime/debug"

func init() { debug.SetGCPercent(400) }
