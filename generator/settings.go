package generator

import (
	"strconv"

	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/topology"
)

type pyDatabase struct {
	Alias          string
	Engine         string
	DisableCursors bool
	Name           string
	User           string
	Password       string // a Python expression
	Host           string
	Port           string
	TestName       string
	Dependencies   []string
	Role           string
	NodeName       string
}

type pySettings struct {
	Source    string
	Rerun     string // the command that writes the block again
	NeedsOS   bool
	Databases []pyDatabase
	Settings  []topology.Setting
	Reporting []topology.Reporting
}

func settingsView(t *topology.Topology) pySettings {
	password := quote.PyLiteral(t.Password)
	if t.PasswordEnv != "" {
		password = "os.environ.get(" + quote.PyLiteral(t.PasswordEnv) + ", '')"
	}
	v := pySettings{Source: quote.Comment(t.Source), NeedsOS: t.PasswordEnv != "", Settings: t.Settings, Reporting: t.ReportingDatabases}
	for _, n := range t.Nodes() {
		if n.Alias == "" {
			continue // a worker Django does not connect to
		}
		nodePassword := password
		if n.Role == topology.Worker && !t.WorkerPassword {
			nodePassword = "''"
		}
		host, port := t.Address(n, t.Reaches)
		db := pyDatabase{
			Alias:          n.Alias,
			Engine:         t.Engine,
			DisableCursors: t.DisableServerSideCursors,
			Name:           t.Database,
			User:           t.User,
			Password:       nodePassword,
			Host:           host,
			Port:           strconv.Itoa(port),
		}
		if t.Profile == topology.ProfileCI {
			// Make the test database explicit: it is the one compose created.
			db.TestName = t.ClusterDatabase()
		}
		if n.Role == topology.Coordinator {
			for _, w := range t.Workers {
				if w.Alias != "" {
					db.Dependencies = append(db.Dependencies, w.Alias)
				}
			}
		} else {
			db.NodeName = t.NodeName(n)
		}
		if t.Roles {
			db.Role = "citus_master"
			if n.Role == topology.Worker {
				db.Role = "citus_worker"
			}
		}
		v.Databases = append(v.Databases, db)
	}
	return v
}

// Settings renders the localsettings.py fragment: DATABASES.update(...),
// the extra flags and REPORTING_DATABASES.update(...).
func Settings(t *topology.Topology) ([]byte, error) {
	return SettingsFor(t, SettingsFile)
}

// SettingsFor renders the fragment for the settings file at path, relative
// to the spec's folder, which its header names in the command that writes
// the block again (SettingsRerun).
func SettingsFor(t *topology.Topology, path string) ([]byte, error) {
	v := settingsView(t)
	v.Rerun = SettingsRerun(t, path)
	return execute("settings", v)
}
