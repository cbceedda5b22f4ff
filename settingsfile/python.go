package settingsfile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/citusgen/citusgen/internal/cachedir"
)

// PythonEnv names the interpreter to use instead of the one found on PATH.
const PythonEnv = "CITUSGEN_PYTHON"

// Interpreter is the python3 citusgen runs, found once per process:
// $CITUSGEN_PYTHON, else the first python3 on PATH that is a program rather
// than a script, else the first python3 at all. Version managers put
// scripts (pyenv's shims) first on PATH that start another python3 and
// cost most of a second each time; the program behind them parses a
// settings file the same way.
var Interpreter = sync.OnceValues(findInterpreter)

func findInterpreter() (string, error) {
	if p := os.Getenv(PythonEnv); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s is not a program citusgen can run: %v", PythonEnv, p, errors.Unwrap(err))
		}
		return path, nil
	}
	var first string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			dir = "."
		}
		path := filepath.Join(dir, "python3")
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
			continue
		}
		if first == "" {
			first = path
		}
		if !isScript(path) {
			return path, nil
		}
	}
	if first == "" {
		return "", fmt.Errorf("python3 is needed to read Django settings files and is not on PATH; install it, or set %s to its path", PythonEnv)
	}
	return first, nil
}

// isScript: the file starts with "#!", so the kernel runs another program
// to run it.
func isScript(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 2)
	n, _ := io.ReadFull(f, head)
	return n == 2 && string(head) == "#!"
}

// cachedAnalyzer writes analyze.py into citusgen's cache directory (once
// per version of it: its name holds its hash), where python3 can import it
// and cache its bytecode (in __pycache__, which citusgen makes itself).
// ok is false where there is no such directory, or one another user could
// have written to (python3 would run their bytecode); python3 then
// compiles the script on every run. It looks each time a python3 starts
// (once per run), so a cache emptied meanwhile is refilled.
var cachedAnalyzer = func() (module, dir string, ok bool) {
	c := analyzerCache()
	return c.module, c.dir, c.module != ""
}

type analyzerFile struct{ module, dir string }

func analyzerCache() analyzerFile {
	dir, ok := cachedir.Dir("__pycache__")
	if !ok {
		return analyzerFile{}
	}
	sum := sha256.Sum256([]byte(analyzer))
	module := "citusgen_analyze_" + hex.EncodeToString(sum[:6])
	path := filepath.Join(dir, module+".py")
	if b, err := os.ReadFile(path); err == nil && string(b) == analyzer {
		return analyzerFile{module, dir}
	}
	tmp, err := os.CreateTemp(dir, ".analyze-*")
	if err != nil {
		return analyzerFile{}
	}
	_, werr := tmp.WriteString(analyzer)
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), path) != nil {
		os.Remove(tmp.Name())
		return analyzerFile{}
	}
	return analyzerFile{module, dir}
}

// proc is the python3 process that serves analyze.py's requests.
type proc struct {
	cmd      *exec.Cmd
	in       io.WriteCloser
	out      *bufio.Reader
	stderr   *bytes.Buffer
	path     string
	released bool // its input is closed: it is exiting
}

var (
	mu      sync.Mutex
	current *proc
	// starts counts the python3 processes started, for the tests that hold
	// citusgen to one per run (export_test.go).
	starts int
)

func start(ctx context.Context) (*proc, error) {
	path, err := Interpreter()
	if err != nil {
		return nil, err
	}
	// Not CommandContext: the process outlives one request; a cancelled
	// request kills it below.
	cmd := exec.Command(path, "-I", "-S", "-c", analyzer)
	if module, dir, ok := cachedAnalyzer(); ok {
		// Imported, python3 keeps the analyzer's bytecode beside it, and
		// the next run skips compiling it.
		cmd = exec.Command(path, "-I", "-S", "-c", fmt.Sprintf("import sys; sys.path.append(%q); import %s", dir, module))
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<16), stderr: &bytes.Buffer{}, path: path}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s to read Django settings files: %v; install python3 or set %s", path, errors.Unwrap(err), PythonEnv)
	}
	starts++
	return p, nil
}

// request sends one request to the process (started on first use) and
// decodes its answer into v.
func request(ctx context.Context, op, name string, data []byte, v any) error {
	mu.Lock()
	defer mu.Unlock()
	reapReleased()
	if current == nil {
		p, err := start(ctx)
		if err != nil {
			return err
		}
		current = p
	}
	p := current
	stop := context.AfterFunc(ctx, func() { p.cmd.Process.Kill() })
	body, err := p.exchange(op, name, data)
	stopped := !stop()
	if err != nil {
		// The process is gone or out of step: the next request starts anew.
		p.cmd.Process.Kill()
		p.cmd.Wait()
		current = nil
		if stopped && ctx.Err() != nil {
			return ctx.Err()
		}
		return p.failure(err)
	}
	var fatal struct {
		Fatal string `json:"fatal"`
	}
	if json.Unmarshal(body, &fatal) == nil && fatal.Fatal != "" {
		return fmt.Errorf("internal error, please report it: %s could not read %s: %s", p.path, name, fatal.Fatal)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("internal error, please report it: reading %s's answer about %s: %w", p.path, name, err)
	}
	return nil
}

func (p *proc) exchange(op, name string, data []byte) ([]byte, error) {
	header := fmt.Sprintf("%s %d %d\n", op, len(name), len(data))
	for _, b := range [][]byte{[]byte(header), []byte(name), data} {
		if _, err := p.in.Write(b); err != nil {
			return nil, err
		}
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("unexpected answer %q", line)
	}
	body := make([]byte, n)
	_, err = io.ReadFull(p.out, body)
	return body, err
}

// failure explains a process that stopped answering: its last words, and
// that citusgen needs Python 3.8 or newer (the usual reason).
func (p *proc) failure(err error) error {
	msg := strings.TrimSpace(p.stderr.String())
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	if msg == "" {
		msg = err.Error()
	}
	return fmt.Errorf("%s stopped while reading a settings file (%s); citusgen needs Python 3.8 or newer: install it or set %s", p.path, msg, PythonEnv)
}

// Prestart starts the python3 process now, if it is not running, so that
// its start-up overlaps the caller's other work. A failure is reported by
// the first request.
func Prestart() {
	mu.Lock()
	defer mu.Unlock()
	reapReleased()
	if current == nil {
		if p, err := start(context.Background()); err == nil {
			current = p
		}
	}
}

// reapReleased forgets a released process, once it has exited; mu is held.
func reapReleased() {
	if current != nil && current.released {
		current.cmd.Wait()
		current = nil
	}
}

// Release tells the python3 process, if one runs, that no more requests
// come: it exits while the caller finishes its work, and Close only reaps
// it. A request after it starts a new process.
func Release() {
	mu.Lock()
	defer mu.Unlock()
	if current != nil && !current.released {
		LastPeakRSS = peakRSS(current.cmd.Process.Pid)
		current.in.Close()
		current.released = true
	}
}

// Close ends the python3 process, if one was started, and waits for it.
// Requests after it start a new one.
func Close() {
	Release()
	mu.Lock()
	defer mu.Unlock()
	reapReleased()
}

// LastPeakRSS is the peak resident memory, in bytes, of the last python3
// process Close ended (Linux), for benchmarks.
var LastPeakRSS int64

// peakRSS reads a process's VmHWM. (Its rusage would not do: a child's
// ru_maxrss counts the parent's memory it shared before exec.)
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
