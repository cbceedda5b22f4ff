package cluster_test

import (
	"strings"
	"testing"

	"github.com/citusgen/citusgen/cluster"
	_ "github.com/citusgen/citusgen/testsupport/goldenfile" // -update flag
	"github.com/citusgen/citusgen/topology"
)

func TestEndpoints(t *testing.T) {
	top := topology.Default()
	addrs := func(o cluster.Options) string {
		eps, err := cluster.Endpoints(top, o)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, ep := range eps {
			s = append(s, ep.Node.Service+"="+ep.Addr.String())
		}
		return strings.Join(s, " ")
	}
	for _, c := range []struct {
		o    cluster.Options
		want string
	}{
		{cluster.Options{}, "citus_master=localhost:5600 citus_worker1=localhost:5601 citus_worker2=localhost:5602"},
		{cluster.Options{Reach: topology.ReachNetwork}, "citus_master=citus_master:5432 citus_worker1=citus_worker1:5432 citus_worker2=citus_worker2:5432"},
		{cluster.Options{Host: "10.0.0.9"}, "citus_master=10.0.0.9:5600 citus_worker1=10.0.0.9:5601 citus_worker2=10.0.0.9:5602"},
		{cluster.Options{Nodes: map[string]cluster.Address{"citus_worker2": {"db2", 6432}}}, "citus_master=localhost:5600 citus_worker1=localhost:5601 citus_worker2=db2:6432"},
	} {
		if got := addrs(c.o); got != c.want {
			t.Errorf("%+v: %s\nwant %s", c.o, got, c.want)
		}
	}
	if _, err := cluster.Endpoints(top, cluster.Options{Nodes: map[string]cluster.Address{"nope": {"h", 1}}}); err == nil || !strings.Contains(err.Error(), "--node names nope") {
		t.Errorf("unknown override: %v", err)
	}
}

func TestParseAddressAndRedact(t *testing.T) {
	if a, err := cluster.ParseAddress("db:6432"); err != nil || a.Host != "db" || a.Port != 6432 {
		t.Errorf("%+v %v", a, err)
	}
	for _, bad := range []string{"db", "db:0", "db:x", ":5432", "db:70000"} {
		if _, err := cluster.ParseAddress(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, c := range []struct{ in, secret, user, want string }{
		{"auth failed for s3cret", "s3cret", "", "auth failed for ********"},
		// The default topology's user and password are one word: the user
		// name stays readable, it is no secret.
		{`password authentication failed for user "commcarehq"`, "commcarehq", "commcarehq", `password authentication failed for user "commcarehq"`},
		{`user "commcarehq_admin", pw commcarehq`, "commcarehq", "commcarehq_admin", `user "commcarehq_admin", pw ********`},
		// A password holding the user name is masked whole.
		{`user "hq" said hq-pass`, "hq-pass", "hq", `user "hq" said ********`},
	} {
		if got := cluster.Redact(c.in, c.secret, c.user); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// The password is set on the parsed config, never in the connection string.
func TestConfigKeepsPasswordOutOfStrings(t *testing.T) {
	top := topology.Default()
	eps, _ := cluster.Endpoints(top, cluster.Options{})
	o := cluster.Options{Password: "pa ss'word"}
	cfg, err := o.Config(top, eps[0], "commcare_ucr_citus")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Password != "pa ss'word" || strings.Contains(cfg.ConnString(), "pa ss") {
		t.Errorf("password %q, conn string %q", cfg.Password, cfg.ConnString())
	}
	if cfg.Host != "localhost" || cfg.Port != 5600 || cfg.User != "commcarehq" || cfg.Database != "commcare_ucr_citus" {
		t.Errorf("config %s:%d %s/%s", cfg.Host, cfg.Port, cfg.User, cfg.Database)
	}
}

// A connection string passed where an address belongs keeps its shape in
// a message, never its password.
func TestRedactConninfo(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://commcarehq:s3cret@db:5432/hq":           "postgres://commcarehq:xxxxx@db:5432/hq",
		"postgresql://u:p@ss/w0rd@db/hq?sslmode=require":    "postgresql://u:xxxxx@db/hq?sslmode=require",
		"postgres://db/hq?user=u&password=s3cret&sslmode=x": "postgres://db/hq?user=u&password=xxxxx&sslmode=x",
		"host=db user=u password=s3cret dbname=hq":          "host=db user=u password=xxxxx dbname=hq",
		"host=db PASSWORD = 'two words' port=5432":          "host=db PASSWORD = xxxxx port=5432",
		"postgres://u:s3c":                                  "postgres://u:xxxxx",
		"ret@db/hq":                                         "xxxxx@db/hq",
		"postgres://u@db/hq":                                "postgres://u@db/hq",
		"db.internal":                                       "db.internal",
		"postgres://db:5432/hq":                             "postgres://db:xxxxx/hq",
	} {
		if got := cluster.RedactConninfo(in); got != want {
			t.Errorf("RedactConninfo(%q) = %q, want %q", in, got, want)
		}
	}
}
