package steps

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/citusgen/citusgen/quote"
)

// SCRAMIterations is PostgreSQL's default iteration count for SCRAM-SHA-256
// secrets (scram_iterations, PostgreSQL 16 and later, can change it).
const SCRAMIterations = 4096

// PasswordEncryption makes the server hash a cleartext password as SCRAM
// for the rest of the transaction.
const PasswordEncryption = "SET LOCAL password_encryption = 'scram-sha-256'"

// QuietStatements keep the rest of a transaction out of the server's log
// (log_statement, a slow statement, a failing one), for statements that
// hold a password or its secret. Only a superuser may run them.
var QuietStatements = []string{
	"SET LOCAL log_statement = 'none'",
	"SET LOCAL log_min_duration_statement = -1",
	"SET LOCAL log_min_error_statement = 'panic'",
}

// NoRolePropagation keeps Citus from running the transaction's ALTER ROLE
// on the other nodes too.
const NoRolePropagation = "SET LOCAL citus.enable_alter_role_propagation = off"

// QuietParameters keeps the session's statement parameters (the password
// of pg_dist_authinfo, bound as $1) out of the server's log, where
// log_statement = 'all' writes them; for a superuser only, a no-op for
// others, who cannot change it, and before PostgreSQL 13, which logs no
// parameters.
const QuietParameters = "SELECT pg_catalog.set_config('log_parameter_max_length', '0', false) WHERE pg_catalog.current_setting('is_superuser') = 'on' AND pg_catalog.current_setting('server_version_num')::int >= 130000"

// PasswordStatement is the ALTER ROLE that gives user the password, as a
// SCRAM-SHA-256 secret of iterations rounds (0: PostgreSQL's default). A
// SCRAM secret serves every pg_hba.conf method that takes a password
// (scram-sha-256, md5 and password), while an md5 one fails scram-sha-256:
// it is SCRAM whatever the server's password_encryption says.
//
// Like psql's \password, it sends the secret the server stores, computed
// here, rather than the password: the statement text (which a server may
// log, and pg_stat_statements keeps) then never holds the password. The
// one exception is a password that is not plain ASCII: the server
// prepares those with SASLprep (Unicode normalisation), which only its own
// code gets exactly right, so cleartext reports that the statement holds
// the password itself and must be kept out of logs; run it after
// PasswordEncryption, in the same transaction, so the server makes a
// SCRAM secret of it too.
func PasswordStatement(user, password string, iterations int) (stmt string, cleartext bool, err error) {
	alter := "ALTER ROLE " + quote.SQLIdent(user) + " PASSWORD "
	if !isASCII(password) {
		return alter + quote.SQLLiteral(password), true, nil
	}
	salt := make([]byte, 16) // PostgreSQL's SCRAM_DEFAULT_SALT_LEN
	if _, err := rand.Read(salt); err != nil {
		return "", false, fmt.Errorf("cannot make a salt for the password: %w", err)
	}
	secret, err := SCRAMSecret(password, salt, iterations)
	if err != nil {
		return "", false, err
	}
	return alter + quote.SQLLiteral(secret), false, nil
}

// SCRAMSecret is the SCRAM-SHA-256 secret PostgreSQL stores in
// pg_authid.rolpassword for an ASCII password (RFC 5803's format, as
// PostgreSQL's scram_build_secret writes it).
func SCRAMSecret(password string, salt []byte, iterations int) (string, error) {
	if iterations <= 0 {
		iterations = SCRAMIterations
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	server := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(server)), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
