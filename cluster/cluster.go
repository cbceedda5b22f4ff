// Package cluster connects to the live nodes of a topology and classifies
// connection failures.
package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/citusgen/citusgen/topology"

	"github.com/citusgen/citusgen/quote"
)

// Address is a host and port citusgen connects to.
type Address struct {
	Host string
	Port int
}

func (a Address) String() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// ParseAddress reads host:port.
func ParseAddress(s string) (Address, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Address{}, fmt.Errorf("%q is not host:port", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || host == "" {
		return Address{}, fmt.Errorf("%q is not host:port with a port between 1 and 65535", s)
	}
	return Address{host, p}, nil
}

// Options say how to reach the nodes and as whom.
type Options struct {
	// Reach overrides the spec's django.reaches for citusgen's own
	// connections: host (published ports) or network (service names).
	Reach topology.Reach
	// Host replaces every node's host (ports stay as Reach gives them).
	Host string
	// Nodes replaces single nodes' addresses, by service name.
	Nodes map[string]Address
	// Password is the resolved password ("" leaves libpq's PGPASSWORD and
	// .pgpass handling in place).
	Password string
	// SSLMode is libpq's sslmode; "prefer" when empty.
	SSLMode string
	// ConnectTimeout bounds each connection attempt; 10s when zero.
	ConnectTimeout time.Duration
	// DialFunc, when set, opens the TCP connections (benchmarks count them).
	DialFunc pgconn.DialFunc
}

// Endpoint is one node and where citusgen reaches it.
type Endpoint struct {
	Node topology.Node
	Addr Address
	// Published: Addr is the node's published port on the host (django.host
	// or --host), which docker binds on compose.publish_address alone.
	Published bool
}

// Endpoints resolves every node's address, coordinator first. An override
// naming no node is an error, so a typo is never silently ignored.
func Endpoints(t *topology.Topology, o Options) ([]Endpoint, error) {
	known := map[string]bool{}
	var names []string
	for _, n := range t.Nodes() {
		known[n.Service] = true
		names = append(names, n.Service)
	}
	var unknown []string
	for s := range o.Nodes {
		if !known[s] {
			unknown = append(unknown, s)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("--node names %s, which the topology does not have; nodes: %s", strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	reach := cmp.Or(o.Reach, t.Reaches)
	eps := make([]Endpoint, 0, len(names))
	var unreachable []string
	for _, n := range t.Nodes() {
		var a Address
		a.Host, a.Port = t.Address(n, reach)
		if o.Host != "" {
			a.Host = o.Host
		}
		ov, override := o.Nodes[n.Service]
		if override {
			a = ov
		} else if a.Port == 0 {
			unreachable = append(unreachable, n.Service)
		}
		eps = append(eps, Endpoint{Node: n, Addr: a, Published: !override && reach == topology.ReachHost && n.RunsFromImage()})
	}
	if len(unreachable) > 0 {
		return nil, fmt.Errorf("%s publish no port, so they cannot be reached from the host: run inside the compose network with --reach network, or give their addresses with --node SERVICE=HOST:PORT", strings.Join(unreachable, ", "))
	}
	return eps, nil
}

// Addresses is where citusgen reaches each node with these options, for
// scripts that print SQL without connecting.
func Addresses(t *topology.Topology, o Options) (func(topology.Node) (host string, port int), error) {
	eps, err := Endpoints(t, o)
	if err != nil {
		return nil, err
	}
	addr := map[string]Address{}
	for _, ep := range eps {
		addr[ep.Node.Service] = ep.Addr
	}
	return func(n topology.Node) (string, int) { a := addr[n.Service]; return a.Host, a.Port }, nil
}

// Config builds the pgx configuration for a database on an endpoint. The
// password is set on the parsed config, never written into a string.
func (o Options) Config(t *topology.Topology, ep Endpoint, database string) (*pgx.ConnConfig, error) {
	sslmode := cmp.Or(o.SSLMode, "prefer")
	timeout := cmp.Or(max(o.ConnectTimeout, 0), 10*time.Second)
	dsn := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=%s connect_timeout=%d application_name=citusgen",
		quote.ConninfoValue(ep.Addr.Host), ep.Addr.Port, quote.ConninfoValue(t.User), quote.ConninfoValue(database), quote.ConninfoValue(sslmode), max(1, int(timeout.Seconds())))
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("connection settings for %s: %w", ep.Node.Service, err)
	}
	if o.Password != "" {
		cfg.Password = o.Password
	}
	if o.DialFunc != nil {
		cfg.DialFunc = o.DialFunc
	}
	// A statement whose context ends (a bound ran out, a signal) is canceled
	// on the server too: pgx's default only drops the connection, and a
	// backend running a long function (citus_drain_node) goes on until it
	// next talks to the client.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Second}
	}
	return cfg, nil
}

// Connect opens a connection to database on ep.
func (o Options) Connect(ctx context.Context, t *topology.Topology, ep Endpoint, database string) (*pgx.Conn, error) {
	cfg, err := o.Config(t, ep, database)
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// ConnectMaintenance connects to the first of MaintenanceDatabases that
// exists on the node.
func (o Options) ConnectMaintenance(ctx context.Context, t *topology.Topology, ep Endpoint) (*pgx.Conn, error) {
	return firstMaintenance(func(db string) (*pgx.Conn, error) { return o.Connect(ctx, t, ep, db) })
}

// firstMaintenance connects to the first of MaintenanceDatabases that
// exists.
func firstMaintenance(connect func(database string) (*pgx.Conn, error)) (conn *pgx.Conn, err error) {
	for _, db := range MaintenanceDatabases {
		conn, err = connect(db)
		if kind, _ := Classify(err); kind != NoDatabase {
			break
		}
	}
	return conn, err
}

// Failure is the kind of a connection failure.
type Failure int

const (
	Other          Failure = iota
	Unreachable            // nothing answers: down, wrong address, firewall
	StartingUp             // the server answers but is not ready yet
	AuthFailed             // the server rejected the user or password
	NoDatabase             // authenticated, but the database does not exist
	NotPostgres            // something answers, but not the PostgreSQL protocol
	Silent                 // something accepts connections but never answers
	TooManyClients         // the server refuses sessions: max_connections is used up
)

// Classify names the kind of a connection error and a one-line detail that
// never holds the password or a connection string.
func Classify(err error) (Failure, string) {
	if err == nil {
		return Other, ""
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgerrcode.InvalidPassword, pgerrcode.InvalidAuthorizationSpecification:
			return AuthFailed, pgErr.Message
		case pgerrcode.InvalidCatalogName:
			return NoDatabase, pgErr.Message
		case pgerrcode.CannotConnectNow:
			return StartingUp, pgErr.Message
		case pgerrcode.TooManyConnections:
			return TooManyClients, "refuses connections because too many clients are connected (SQLSTATE 53300: " + pgErr.Message + ")"
		}
		return Other, pgErr.Message
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return Unreachable, "no answer before the deadline (timeout)"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		var sysErr *os.SyscallError
		if errors.As(opErr.Err, &sysErr) {
			return Unreachable, sysErr.Err.Error() // "connection refused", not "connect: ..."
		}
		return Unreachable, opErr.Err.Error()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return Unreachable, "cannot resolve " + dnsErr.Name
	}
	msg := err.Error()
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) && connErr.Unwrap() != nil {
		msg = connErr.Unwrap().Error()
	}
	if strings.Contains(msg, "timeout") {
		return Unreachable, "no answer before the deadline (timeout)"
	}
	// A server that does not speak PostgreSQL's protocol: its first bytes
	// read as an absurd message length, or as no TLS reply at all.
	for _, sign := range []string{"invalid body length", "invalid message length", "does not look like a TLS handshake", "unexpected message", "unknown message type"} {
		if strings.Contains(msg, sign) {
			return NotPostgres, "not a PostgreSQL server (it answered, but not in PostgreSQL's protocol)"
		}
	}
	return Other, OneLine(msg)
}

// Diagnose classifies a failed connection to addr like Classify and, where
// the error alone cannot tell (a reset, an early end of stream, garbage, a
// timeout after the connection was accepted), asks the port itself with
// Probe. The detail of NotPostgres and Silent names the address.
func Diagnose(addr Address, err error) (Failure, string) {
	kind, detail := Classify(err)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) || err == nil {
		return kind, detail
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return kind, detail // nothing accepted the connection: nothing to ask
	}
	if pk, pd := Probe(addr, time.Second); pk != Other {
		return pk, pd
	}
	return kind, detail
}

// Probe tells what listens on addr, within about twice timeout: Unreachable
// when nothing accepts the connection or it is closed at once (a published
// port whose container is down), NotPostgres when the server speaks first
// (PostgreSQL never does; an SSH banner does) or answers an SSLRequest with
// anything but PostgreSQL's one-byte reply, Silent when it accepts and never
// answers, and Other when a PostgreSQL server answered.
func Probe(addr Address, timeout time.Duration) (Failure, string) {
	c, err := net.DialTimeout("tcp", addr.String(), timeout)
	if err != nil {
		_, detail := Classify(err)
		return Unreachable, detail
	}
	defer c.Close()
	notPG := fmt.Sprintf("not a PostgreSQL server at %s", addr)
	closed := fmt.Sprintf("%s accepts connections and closes them at once (a published port whose container is not running?)", addr)
	buf := make([]byte, 1)
	// Whatever a server says before the client has spoken is not PostgreSQL.
	c.SetReadDeadline(time.Now().Add(timeout / 4))
	if n, err := c.Read(buf); n > 0 {
		return NotPostgres, notPG
	} else if closedAtOnce(err) {
		return Unreachable, closed
	}
	// SSLRequest: length 8, code 80877103. PostgreSQL answers 'S' or 'N'
	// (very old servers an 'E' error message).
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
		return Unreachable, closed
	}
	n, err := c.Read(buf)
	switch {
	case n == 1 && (buf[0] == 'S' || buf[0] == 'N' || buf[0] == 'E'):
		return Other, ""
	case n > 0:
		return NotPostgres, notPG
	case isTimeout(err):
		return Silent, fmt.Sprintf("something accepts connections at %s but never answers", addr)
	}
	return Unreachable, closed
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// closedAtOnce: the peer ended the connection before saying anything.
func closedAtOnce(err error) bool {
	return err != nil && !isTimeout(err)
}

// hostPrefix is pgconn's "HOST:PORT (IP): " at the start of each attempt.
var hostPrefix = regexp.MustCompile(`^\S+:\d+ \([^)]*\): `)

// OneLine makes a multi-line error (pgconn lists each attempt on a line of
// its own) one line: the last attempt says why the connection failed.
func OneLine(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	return hostPrefix.ReplaceAllString(last, "")
}

// ErrText is a server error's message (and detail), else the error.
func ErrText(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Detail != "" {
			return pgErr.Message + " (" + pgErr.Detail + ")"
		}
		return pgErr.Message
	}
	return err.Error()
}

// Redact hides the password from s (a message that may quote what a
// server said), keeping t's user readable: what every message built from
// a connection's errors goes through.
func (o Options) Redact(t *topology.Topology, s string) string {
	return Redact(s, o.Password, t.User)
}

// Redact replaces every occurrence of secret in s, so no output can leak it
// even when a server echoes it back.
func Redact(s, secret string, keep ...string) string {
	if secret == "" {
		return s
	}
	var protect []string
	for _, k := range keep {
		if k != "" && strings.Contains(k, secret) {
			protect = append(protect, k)
		}
	}
	// Longest first, so a name holding another is protected whole.
	sort.Slice(protect, func(i, j int) bool { return len(protect[i]) > len(protect[j]) })
	for i, k := range protect {
		s = strings.ReplaceAll(s, k, fmt.Sprintf("\x00%d\x00", i))
	}
	s = strings.ReplaceAll(s, secret, "********")
	for i, k := range protect {
		s = strings.ReplaceAll(s, fmt.Sprintf("\x00%d\x00", i), k)
	}
	return s
}

// passwordParam is a password=VALUE of a key=value connection string or a
// URI's query: the value quoted ('...', with \' inside) or up to a space or &.
var passwordParam = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&]*)`)

// RedactConninfo masks the password of a connection string given where an
// address belongs (postgres://user:PASSWORD@host/db, postgresql://...,
// host=h password=PASSWORD, ?password=PASSWORD), so a message may repeat the
// rest.
func RedactConninfo(s string) string {
	s = passwordParam.ReplaceAllString(s, "${1}xxxxx")
	at := strings.LastIndexByte(s, '@')
	scheme := strings.Index(s, "://")
	switch {
	case at < 0 && scheme >= 0:
		// No @: host:port, or user:password cut short; mask after the colon.
		rest := s[scheme+3:]
		colon := strings.IndexByte(rest, ':')
		if colon < 0 {
			return s
		}
		tail := ""
		if end := strings.IndexAny(rest[colon:], "/?"); end >= 0 {
			tail = rest[colon+end:]
		}
		return s[:scheme+3] + rest[:colon] + ":xxxxx" + tail
	case at < 0:
		return s
	case scheme < 0 || scheme > at:
		return "xxxxx" + s[at:]
	}
	start := scheme + 3
	if user, _, hasPassword := strings.Cut(s[start:at], ":"); hasPassword {
		return s[:start] + user + ":xxxxx" + s[at:]
	}
	return s
}

// LooksLikeConninfo reports whether s is a connection string rather than an
// address (a URI, key=value pairs, user@host).
func LooksLikeConninfo(s string) bool {
	return strings.Contains(s, "://") || strings.Contains(s, "@") || passwordParam.MatchString(s) || strings.Contains(s, "host=") || strings.Contains(s, "dbname=")
}

// PublishMiss says why a container's published port is not reached at ep
// although the node may be up, "" when nothing says so: docker binds the
// port on compose.publish_address alone, and citusgen connects to
// django.host (or --host), which names another address.
func PublishMiss(t *topology.Topology, ep Endpoint) string {
	pub := net.ParseIP(t.PublishAddress)
	if !ep.Published || pub == nil || pub.Equal(net.IPv4zero) {
		return "" // every interface ("" parses as nil)
	}
	// :: is every IPv6 address, and docker binds it to IPv6 alone.
	reaches := func(ip net.IP) bool { return ip.Equal(pub) || pub.Equal(net.IPv6unspecified) && ip.To4() == nil }
	host := ep.Addr.Host
	var addrs []string
	if ip := net.ParseIP(host); ip != nil {
		addrs = []string{ip.String()}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return ""
		}
		for _, ip := range ips {
			if reaches(ip.IP) {
				return ""
			}
			addrs = append(addrs, ip.IP.String())
		}
	}
	if len(addrs) == 1 && reaches(net.ParseIP(addrs[0])) {
		return ""
	}
	to := host
	if net.ParseIP(host) == nil {
		to = fmt.Sprintf("%s (%s here)", host, strings.Join(addrs, ", "))
	}
	s := ep.Node.Service
	at := t.PublishAddress
	if pub.IsUnspecified() {
		at = "::1" // this machine's own of every IPv6 address
	}
	return fmt.Sprintf("%s publishes its port on %s only (compose.publish_address), while citusgen connects to %s, which does not reach that address: the node may well be up. Connect where it is published (--host %s), or set django.host and compose.publish_address to one address (render, then docker compose up -d %s); if it is down, start it (docker compose up -d %s)", s, t.PublishAddress, to, at, s, s)
}
