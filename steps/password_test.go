package steps_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/testsupport/pgtest"
)

// The secret citusgen computes for a password is the one PostgreSQL itself
// stores: the server hashes each password (ALTER ROLE ... PASSWORD
// 'cleartext'), and SCRAMSecret with the server's salt and iterations gives
// the same bytes. Then each statement PasswordStatement makes (a computed
// secret for ASCII passwords, the cleartext for others) lets that password
// log in, and only the non-ASCII one holds it.
func TestPasswordSecretIsPostgreSQLs(t *testing.T) {
	if testing.Short() {
		t.Skip(pgtest.ShortSkip)
	}
	srv := pgtest.Start(t, pgtest.Options{Password: "admin-pw"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := srv.Connect(t, "postgres")
	passwords := []string{"commcarehq", `every class: 'q' "d" \ $HOME %s ; -- #`, "a", strings.Repeat("long", 40)}
	for i, pw := range passwords {
		role := fmt.Sprintf("pw_role_%d", i)
		if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD "+quote.SQLLiteral(pw)); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := admin.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
		head, _, _ := strings.Cut(strings.TrimPrefix(stored, "SCRAM-SHA-256$"), "$")
		iter, b64salt, _ := strings.Cut(head, ":")
		n, _ := strconv.Atoi(iter)
		salt, err := base64.StdEncoding.DecodeString(b64salt)
		if err != nil {
			t.Fatalf("%q: %v", stored, err)
		}
		ours, err := steps.SCRAMSecret(pw, salt, n)
		if err != nil {
			t.Fatal(err)
		}
		if ours != stored {
			t.Errorf("secret of %q:\n citusgen   %s\n postgresql %s", pw, ours, stored)
		}
	}

	// The server's password_encryption does not matter: md5 secrets would
	// lock the user out where pg_hba.conf says scram-sha-256, as here.
	if _, err := admin.Exec(ctx, "SET password_encryption = 'md5'"); err != nil {
		t.Fatal(err)
	}
	for i, pw := range append(passwords, "pässwörd ünïcode") {
		role := fmt.Sprintf("pw_role_%d", i)
		if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+role+"; CREATE ROLE "+role+" LOGIN"); err != nil {
			t.Fatal(err)
		}
		for _, iterations := range []int{0, 5000} {
			stmt, clear, err := steps.PasswordStatement(role, pw, iterations)
			if err != nil {
				t.Fatal(err)
			}
			if clear != strings.Contains(stmt, quote.SQLLiteral(pw)) || clear != (pw == "pässwörd ünïcode") {
				t.Errorf("statement for %q: cleartext %v:\n%s", pw, clear, stmt)
			}
			tx, err := admin.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, steps.PasswordEncryption); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=postgres sslmode=disable", srv.Host, srv.Port, role))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Password = pw
			c, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Errorf("%d iterations: %q does not log in after PasswordStatement: %v", iterations, pw, err)
				continue
			}
			c.Close(ctx)
		}
	}
}
