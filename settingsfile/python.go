package settingsfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// PythonEnv names the interpreter to use instead of the one found on PATH.
const PythonEnv = "CITUSGEN_PYTHON"

// Interpreter is the python3 citusgen runs: $CITUSGEN_PYTHON, else python3
// on PATH.
func Interpreter() (string, error) {
	if p := os.Getenv(PythonEnv); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s is not a program citusgen can run: %v", PythonEnv, p, errors.Unwrap(err))
		}
		return path, nil
	}
	path, err := exec.LookPath("python3")
	if err != nil {
		return "", fmt.Errorf("python3 is needed to read Django settings files and is not on PATH; install it, or set %s to its path", PythonEnv)
	}
	return path, nil
}

// proc is the python3 process that serves analyze.py's requests.
type proc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *bytes.Buffer
	path   string
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

// Close ends the python3 process, if one was started, and waits for it.
// Requests after it start a new one.
func Close() {
	mu.Lock()
	defer mu.Unlock()
	if current != nil {
		current.in.Close()
		current.cmd.Wait()
		current = nil
	}
}
