# Relays each connection to the Unix socket RELAY_SOCKET to RELAY_HOST:RELAY_PORT
# (TCP), one forked process per connection, until killed. Perl's IO::Socket
# modules are in every Debian-based image; no other tool is assumed.
use strict;
use warnings;
use IO::Socket::UNIX;
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOCK_STREAM);

$SIG{CHLD} = 'IGNORE';
my $path = $ENV{RELAY_SOCKET};
unlink $path;
my $listen = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path, Listen => 16)
	or die "listen on $path: $!\n";
chmod 0777, $path;
while (1) {
	my $client = $listen->accept or next;
	my $pid = fork;
	die "fork: $!\n" unless defined $pid;
	if ($pid) { close $client; next; }
	close $listen;
	my $server = IO::Socket::INET->new(PeerAddr => $ENV{RELAY_HOST}, PeerPort => $ENV{RELAY_PORT}, Proto => 'tcp')
		or die "connect to $ENV{RELAY_HOST}:$ENV{RELAY_PORT}: $!\n";
	my $sel = IO::Select->new($client, $server);
	COPY: while (1) {
		for my $from ($sel->can_read) {
			my $to = $from == $client ? $server : $client;
			my $n = sysread($from, my $buf, 65536);
			last COPY unless $n;
			my $off = 0;
			while ($off < $n) {
				my $w = syswrite($to, $buf, $n - $off, $off);
				last COPY unless defined $w;
				$off += $w;
			}
		}
	}
	exit 0;
}
