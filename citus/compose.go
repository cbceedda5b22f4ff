package citus

import (
	"strings"

	"github.com/distribution/reference"
)

// What compose files say about a Citus cluster: the words citusgen writes
// into the files it renders and looks for in the files it reads (import,
// --adopt), kept here so that the two always agree.

// RoleLabel is the label the citusdata images' own compose files give each
// node; its value is RoleMaster on the coordinator, RoleWorker on a worker.
const (
	RoleLabel  = "com.citusdata.role"
	RoleMaster = "Master"
	RoleWorker = "Worker"
)

// The services citusgen adds beside the nodes; no node may be named so.
const (
	// SetupService runs the bootstrap script inside the compose network
	// once every node is healthy (compose.setup).
	SetupService = "citus_setup"
	// ManagerService runs the membership manager, the older way of
	// registering workers (compose.membership_manager).
	ManagerService = "citus_manager"
)

// ManagerRepository is the membership manager's image repository. A
// service running it registers workers, as citusgen's setup service does.
const ManagerRepository = "citusdata/membership-manager"

// repositoryPath is the path of an image reference's repository, without
// its registry, tag or digest: citus for citus:13 (Docker Hub's library
// images have library/ in front), mirror/citus for
// registry.example.com:5000/mirror/citus:12.1.
func repositoryPath(image string) (string, bool) {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", false
	}
	return reference.Path(ref), true
}

// IsCitusImage reports whether an image reference names a citus image: a
// repository named citus, in any registry or organisation (mirrors keep
// that name).
func IsCitusImage(image string) bool {
	path, ok := repositoryPath(image)
	return ok && (path == "citus" || strings.HasSuffix(path, "/citus"))
}

// IsManagerImage reports whether an image reference names the membership
// manager, in any registry.
func IsManagerImage(image string) bool {
	path, ok := repositoryPath(image)
	return ok && path == ManagerRepository
}
