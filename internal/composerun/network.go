package composerun

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// The compose network of one harness: a "host" network namespace (the
// machine docker runs on: published ports live there) holding a bridge, and
// one namespace per container, each joined to the bridge by a veth pair and
// given /etc/netns/<ns>/hosts naming every service, which `ip netns exec`
// mounts over /etc/hosts. Name resolution, routing and ports are the
// kernel's own; nothing is faked. The addresses exist only inside these
// namespaces, which the harness creates and deletes itself.
type network struct {
	prefix string // namespace names start with it: unique per harness
	host   string // the host namespace

	mu    sync.Mutex
	next  int               // last octet of the next container address
	ips   map[string]string // service -> address
	nss   []string          // every namespace, host first
	hosts []string          // namespaces that get a hosts file
}

const (
	subnet     = "10.213.0" // /24 on the bridge; private to the host namespace
	bridgeAddr = subnet + ".1"
	nsPrefix   = "citusgen-h"
)

var harnessSeq atomic.Int64

func newNetwork() (*network, error) {
	removeStaleNamespaces()
	n := &network{
		prefix: fmt.Sprintf("%s%d-%d-", nsPrefix, os.Getpid(), harnessSeq.Add(1)),
		next:   10,
		ips:    map[string]string{},
	}
	n.host = n.prefix + "host"
	if err := n.addNamespace(n.host); err != nil {
		return nil, err
	}
	if err := ipCmds(
		[]string{"-n", n.host, "link", "add", "br0", "type", "bridge"},
		[]string{"-n", n.host, "addr", "add", bridgeAddr + "/24", "dev", "br0"},
		[]string{"-n", n.host, "link", "set", "br0", "up"},
	); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

func (n *network) addNamespace(name string) error {
	if err := ipCmds([]string{"netns", "add", name}); err != nil {
		return err
	}
	n.mu.Lock()
	n.nss = append(n.nss, name)
	n.mu.Unlock()
	return ipCmds([]string{"-n", name, "link", "set", "lo", "up"})
}

// attach creates the namespace of a container on the network, with an
// address and a hosts file; every hosts file is rewritten to name it.
func (n *network) attach(service string) (ns, ip string, err error) {
	n.mu.Lock()
	if ip, ok := n.ips[service]; ok {
		n.mu.Unlock()
		return n.nsOf(service), ip, nil
	}
	if n.next > 250 {
		n.mu.Unlock()
		return "", "", errors.New("composerun: more than 240 containers on one network")
	}
	ip = fmt.Sprintf("%s.%d", subnet, n.next)
	veth := "v" + strconv.Itoa(n.next)
	n.next++
	n.ips[service] = ip
	n.mu.Unlock()

	ns = n.nsOf(service)
	if err := n.addNamespace(ns); err != nil {
		return "", "", err
	}
	if err := ipCmds(
		[]string{"-n", n.host, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		[]string{"-n", n.host, "link", "set", veth, "master", "br0", "up"},
		[]string{"-n", ns, "addr", "add", ip + "/24", "dev", "eth0"},
		[]string{"-n", ns, "link", "set", "eth0", "up"},
	); err != nil {
		return "", "", err
	}
	n.mu.Lock()
	n.hosts = append(n.hosts, ns)
	n.mu.Unlock()
	return ns, ip, n.writeHosts()
}

func (n *network) nsOf(service string) string { return n.prefix + "c-" + service }

// writeHosts rewrites every container's hosts file in place: running
// processes see the bind-mounted inode, so a new service becomes resolvable
// everywhere at once, as with docker's embedded DNS.
func (n *network) writeHosts() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	names := make([]string, 0, len(n.ips))
	for s := range n.ips {
		names = append(names, s)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, s := range names {
		fmt.Fprintf(&b, "%s\t%s\n", n.ips[s], s)
	}
	for _, ns := range n.hosts {
		dir := filepath.Join("/etc/netns", ns)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(filepath.Join(dir, "hosts"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, werr := f.WriteString(b.String())
		if err := f.Close(); werr == nil {
			werr = err
		}
		if werr != nil {
			return werr
		}
	}
	return nil
}

// close deletes every namespace and hosts file of the network.
func (n *network) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.nss) - 1; i >= 0; i-- {
		_ = exec.Command("ip", "netns", "delete", n.nss[i]).Run()
		_ = os.RemoveAll(filepath.Join("/etc/netns", n.nss[i]))
	}
	n.nss = nil
}

// removeStaleNamespaces deletes namespaces that harnesses of dead test
// processes left behind (a killed `go test`).
func removeStaleNamespaces() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(rest[:max(0, strings.IndexByte(rest, '-'))])
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		_ = exec.Command("ip", "netns", "delete", e.Name()).Run()
		_ = os.RemoveAll(filepath.Join("/etc/netns", e.Name()))
	}
}

func ipCmds(cmds ...[]string) error {
	for _, args := range cmds {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// inNamespace runs fn on an OS thread switched into the network namespace
// ns. Sockets fn creates stay in that namespace for their whole life. The
// thread is switched back afterwards, or discarded when that fails.
func inNamespace(ns string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer self.Close()
		target, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			// Still locked: the thread ends with this goroutine.
			done <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// forward is a published port: a listener in the host namespace that
// relays each connection to the container's address, as docker-proxy does.
type forward struct {
	ln     net.Listener
	wg     sync.WaitGroup
	closed atomic.Bool
}

func (n *network) publish(port int, target string) (*forward, error) {
	f := &forward{}
	err := inNamespace(n.host, func() error {
		var err error
		f.ln, err = net.Listen("tcp", ":"+strconv.Itoa(port))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("publish port %d: %w", port, err)
	}
	f.wg.Go(func() {
		for {
			c, err := f.ln.Accept()
			if err != nil {
				return
			}
			f.wg.Go(func() { n.relay(c, target) })
		}
	})
	return f, nil
}

func (n *network) relay(c net.Conn, target string) {
	defer c.Close()
	var up net.Conn
	if err := inNamespace(n.host, func() error {
		var err error
		up, err = net.Dial("tcp", target)
		return err
	}); err != nil {
		return // the client sees the connection close, as with docker-proxy
	}
	defer up.Close()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		_, _ = dst.(*net.TCPConn).ReadFrom(src)
		_ = dst.(*net.TCPConn).CloseWrite()
	}
	wg.Go(func() { pipe(up, c) })
	pipe(c, up)
	wg.Wait()
}

func (f *forward) close() {
	if f.closed.Swap(true) {
		return
	}
	f.ln.Close()
}
