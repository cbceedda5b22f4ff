package atomicfile

// SetBeforeReplace sets what runs between the temporary file's write and
// the check before the rename (nil: nothing), for the tests of another
// writer's change.
func SetBeforeReplace(f func(path string)) { beforeReplace = f }
