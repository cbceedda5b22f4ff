// Package await lets a test act when a command has reached a point it
// reports, instead of after a fixed time: a Writer keeps what is written
// to it and closes Seen once that holds the text waited for.
package await

import (
	"bytes"
	"strings"
	"sync"
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
