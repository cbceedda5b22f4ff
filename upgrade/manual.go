package upgrade

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/pgupgrade"
	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/topology"
)

// Manual prints the upgrade of servers outside compose (image: none) as
// commands per node, from what each node says of itself: citusgen does not
// run packages' servers, so it says exactly what to run instead. major is
// the PostgreSQL major to move to (the current one for a Citus release
// alone).
func Manual(ctx context.Context, t *topology.Topology, o cluster.Options, major int, w io.Writer) error {
	sql, err := newSQLNodes(t, o)
	if err != nil {
		return err
	}
	type facts struct {
		service, conn, dataDir, citus, bindir string
		major                                 int
		dbs                                   []string
		init                                  pgupgrade.InitSettings
	}
	var nodes []facts
	if len(sql.eps) == 0 {
		return nil
	}
	for _, ep := range sql.eps {
		s := ep.Node.Service
		c, err := sql.connect(ctx, s, t.ClusterDatabase())
		if err != nil {
			return err
		}
		f := facts{service: s}
		err = c.QueryRow(ctx, "SELECT current_setting('data_directory'), current_setting('server_version_num')::int / 10000, coalesce((SELECT extversion FROM pg_extension WHERE extname = 'citus'), '')").Scan(&f.dataDir, &f.major, &f.citus)
		c.Close(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		if f.dbs, err = sql.citusDatabases(ctx, s); err != nil {
			return err
		}
		if len(f.dbs) == 0 {
			return fmt.Errorf("%s: no database has the citus extension; run citusgen bootstrap first", s)
		}
		if f.init, err = sql.initSettings(ctx, s, f.major); err != nil {
			return err
		}
		f.conn = fmt.Sprintf("host=%s port=%d user=%s", ep.Addr.Host, ep.Addr.Port, t.User)
		nodes = append(nodes, f)
	}
	psql := func(f facts, db, stmt string) string {
		return fmt.Sprintf("psql %s -c %s", quote.Shell(f.conn+" dbname="+db), quote.Shell(stmt))
	}
	each := func(stmt string, order []facts) {
		for _, f := range order {
			for _, db := range f.dbs {
				fmt.Fprintf(w, "  %s\n", psql(f, db, stmt))
			}
		}
	}
	workersFirst := append(append([]facts{}, nodes[1:]...), nodes[0])
	fmt.Fprintf(w, "The nodes run from no image (image: none), so citusgen prints the upgrade instead of running it. Stop writes and take a backup first.\n")
	for _, f := range nodes {
		fmt.Fprintf(w, "  %s: PostgreSQL %d, Citus %s, data in %s, databases with Citus: %s\n", f.service, f.major, f.citus, f.dataDir, strings.Join(f.dbs, ", "))
	}
	fmt.Fprintf(w, "\nA new Citus release (after installing its package for PostgreSQL %d on every node and restarting each):\n", nodes[0].major)
	each("ALTER EXTENSION citus UPDATE", workersFirst)
	fmt.Fprintf(w, "  %s\n", psql(nodes[0], nodes[0].dbs[0], "CALL citus_finish_citus_upgrade()"))
	if major == 0 || major == nodes[0].major {
		fmt.Fprintf(w, "\nFor a PostgreSQL major as well, run citusgen upgrade --postgres MAJOR.\n")
		return nil
	}
	fmt.Fprintf(w, "\nPostgreSQL %d to %d (the Citus release of the data installed for %d too; Citus first where it changes, as above):\n", nodes[0].major, major, major)
	fmt.Fprintln(w, "1. On every node:")
	each("SELECT citus_prepare_pg_upgrade()", nodes)
	fmt.Fprintln(w, "2. Stop every node's server. Then on each node, as the postgres OS user:")
	for _, f := range nodes {
		newDir := strings.Replace(f.dataDir, fmt.Sprint(f.major), fmt.Sprint(major), 1)
		if newDir == f.dataDir {
			newDir = f.dataDir + "-" + fmt.Sprint(major)
		}
		args := []string{"-U", t.User, "-E", f.init.Encoding, "--lc-collate=" + f.init.Collate, "--lc-ctype=" + f.init.Ctype}
		switch f.init.Provider {
		case "icu":
			args = append(args, "--locale-provider=icu", "--icu-locale="+f.init.ICULocale)
		case "builtin":
			args = append(args, "--locale-provider=builtin", "--builtin-locale="+f.init.BuiltinLocale)
		}
		if f.init.WALSegmentMB != 0 {
			args = append(args, fmt.Sprintf("--wal-segsize=%d", f.init.WALSegmentMB))
		}
		switch {
		case f.init.DataChecksums:
			args = append(args, "--data-checksums")
		case major >= 18:
			args = append(args, "--no-data-checksums")
		}
		for i, a := range args {
			args[i] = quote.Shell(a)
		}
		fmt.Fprintf(w, "   %s:\n", f.service)
		fmt.Fprintf(w, "     /usr/lib/postgresql/%d/bin/initdb -D %s %s\n", major, quote.Shell(newDir), strings.Join(args, " "))
		fmt.Fprintf(w, "     /usr/lib/postgresql/%d/bin/pg_upgrade --check -b /usr/lib/postgresql/%d/bin -B /usr/lib/postgresql/%d/bin -d %s -D %s -U %s\n", major, f.major, major, quote.Shell(f.dataDir), quote.Shell(newDir), quote.Shell(t.User))
		fmt.Fprintf(w, "     /usr/lib/postgresql/%d/bin/pg_upgrade -b /usr/lib/postgresql/%d/bin -B /usr/lib/postgresql/%d/bin -d %s -D %s -U %s\n", major, f.major, major, quote.Shell(f.dataDir), quote.Shell(newDir), quote.Shell(t.User))
		fmt.Fprintf(w, "     copy pg_hba.conf, pg_ident.conf, postgresql.auto.conf and the TLS files (server.crt, server.key) from %s to %s, set shared_preload_libraries = 'citus' there, and start the new server\n", f.dataDir, newDir)
	}
	fmt.Fprintln(w, "3. On every node, before any other query:")
	each("SELECT citus_finish_pg_upgrade()", nodes)
	fmt.Fprintln(w, "4. citusgen verify")
	return nil
}
