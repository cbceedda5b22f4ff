package settingsfile

// StartCount is how many python3 processes this process started, for the
// tests of when citusgen starts one.
func StartCount() int {
	mu.Lock()
	defer mu.Unlock()
	return starts
}
