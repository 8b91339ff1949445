package queue

import (
	"errors"
	"fmt"
)

// ErrCorrupt: the state a shared design read from its memory is impossible
// (a scribbled header, head/tail or slot word). The operation stops instead
// of following a wild index; the queue should be discarded.
var ErrCorrupt = errors.New("queue: corrupted shared state")

// errInProcess: an in-process design was asked to attach to shared memory.
func errInProcess(name string) error {
	return fmt.Errorf("queue: %s is an in-process design; it cannot attach to shared memory (init=false)", name)
}
