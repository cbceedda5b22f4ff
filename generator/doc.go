// Package generator renders the artifacts of a topology and does nothing
// else: the compose services (Compose, ComposeSections), the Django settings
// fragment (Settings), the bootstrap and reset SQL (SQL, NodeSQL, ResetSQL)
// and the set of files render --out writes (Artifacts). It executes the
// templates of package templates with the quoting functions of package
// quote; what goes into users' files around the rendered text is package
// regions' job, and the statements themselves are package steps'.
package generator
