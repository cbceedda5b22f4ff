package topology

import "strings"

// reservedRole says why PostgreSQL will not have name as a role ("" when
// it will). These fail where the image's entrypoint creates the superuser
// (initdb -U POSTGRES_USER), so a node with such a user never starts: pg_
// names in initdb's own check, public and none in its bootstrap (role
// "public" does not exist, role name "none" is reserved). current_user,
// session_user, current_role, user and all are fine: citusgen quotes the
// user wherever SQL names it, and a cluster of each bootstraps and verifies.
func reservedRole(name string) string {
	switch {
	case strings.HasPrefix(name, "pg_"):
		return "names starting with pg_ are PostgreSQL's own roles"
	case name == "public":
		return "PostgreSQL's name for every role"
	case name == "none":
		return "PostgreSQL reserves it"
	}
	return ""
}

// reservedUser refuses a user PostgreSQL cannot create.
func (v *validator) reservedUser() {
	if why := reservedRole(v.t.User); why != "" {
		v.d.errorAt("user", "%q is a reserved role name (%s): the image's initdb fails on it, so no node would come up; choose another user name, such as %s", v.t.User, why, DefaultUser)
	}
}
