package specimport

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/citusgen/citusgen/settingsfile"
)

// passwordSource is one place the files give the cluster's password.
type passwordSource struct {
	at   string // file:line
	what string // the key and whose it is
	// how identifies the password without holding it in a message: "$NAME"
	// for a variable, "=" and the value for one written in the file.
	how string
}

// composePasswords notes the passwords the nodes' environments set.
func (s *spec) composePasswords(path string, nodes []*composeNode) {
	for _, n := range nodes {
		for _, key := range []string{"POSTGRES_PASSWORD", "PGPASSWORD"} {
			v, ok := n.env[key]
			if !ok || v.raw == "" {
				continue
			}
			how := "=" + strings.ReplaceAll(v.raw, "$$", "$")
			if name, _, _, isRef := envRef(v.raw); isRef {
				how = "$" + name
			}
			s.passwords = append(s.passwords, passwordSource{fmt.Sprintf("%s:%d", path, v.line), key + " of " + n.service, how})
		}
	}
}

// settingsPassword notes the PASSWORD of the alias e that reaches n. An
// empty one counts only for a node that has a password: workers without
// one get an empty PASSWORD from citusgen too (worker_password: false).
func (r *settingsReader) settingsPassword(e settingsfile.Entry, n *node) {
	v, ok := e.Fields["PASSWORD"]
	if !ok {
		return
	}
	how := ""
	if v.Env != "" {
		how = "$" + v.Env
	} else if str, isStr := v.Value.(string); v.Literal && isStr {
		how = "=" + str
	}
	if how == "" || how == "=" && n.c.env["POSTGRES_PASSWORD"].raw == "" {
		return // an expression citusgen cannot read, or no password at all
	}
	r.s.passwords = append(r.s.passwords, passwordSource{fmt.Sprintf("%s:%d", r.path, e.Lines.Start), "PASSWORD of alias " + e.Key, how})
}

// passwordConflict refuses files that give the cluster different
// passwords, naming every place and never a value. A topology has one
// password; which one the cluster runs with (the one each node's data
// directory was created with) no file says, and --adopt would write the
// chosen one into every node and alias, so citusgen does not choose.
func (s *spec) passwordConflict(in Files) error {
	var order []string
	places := map[string][]string{}
	for _, p := range s.passwords {
		if _, ok := places[p.how]; !ok {
			order = append(order, p.how)
		}
		places[p.how] = append(places[p.how], fmt.Sprintf("%s (%s)", p.at, p.what))
	}
	if len(order) < 2 {
		return nil
	}
	var b strings.Builder
	files := in.ComposePath + " gives"
	if in.SettingsPath != "" {
		files = in.ComposePath + " and " + in.SettingsPath + " give"
	}
	fmt.Fprintf(&b, "%s the cluster different passwords (the values are not shown), and a topology has one for every node:", files)
	values := 0
	for _, how := range order {
		label := how
		switch {
		case how == "=":
			label = "empty"
		case strings.HasPrefix(how, "="):
			values++
			label = "value " + strconv.Itoa(values)
		}
		fmt.Fprintf(&b, "\n  %s: %s", label, strings.Join(places[how], ", "))
	}
	b.WriteString("\nmake them agree on the password the cluster runs with (a node's POSTGRES_PASSWORD takes effect only when its data directory is created), then import again: citusgen does not guess, because --adopt writes one password into every node and alias")
	return fmt.Errorf("%s", b.String())
}
