// Package templates holds the text/template sources of every artifact
// citusgen renders, embedded in the binary. The generator package parses and
// executes them with the quoting functions of package quote.
package templates

import "embed"

// Files holds compose.tmpl, settings.tmpl and sql.tmpl; each defines named
// templates.
//
//go:embed *.tmpl
var Files embed.FS
