// Package await lets a test act when a command has reached a point it
// reports, instead of after a fixed time: a Writer keeps what is written
// to it and closes Seen once that holds the text waited for.
package await

import (
	"bytes"
	"strings"
	"sync"
	"time"
)

// Writer is an io.Writer that closes Seen once what was written holds Want.
type Writer struct {
	Want string
	Seen chan struct{}

	mu   sync.Mutex
	buf  bytes.Buffer
	once sync.Once
}

// NewWriter waits for want.
func NewWriter(want string) *Writer { return &Writer{Want: want, Seen: make(chan struct{})} }

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.Want) {
		w.once.Do(func() { close(w.Seen) })
	}
	return len(p), nil
}

// String is everything written so far.
func (w *Writer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// Until calls f until it returns nil or limit has passed, every 100 ms,
// and returns f's last error: a test waits for a condition, never for a
// fixed time.
func Until(limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
