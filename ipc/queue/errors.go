package queue

import "errors"

// ErrCorrupt: the state a shared design read from its memory is impossible
// (a scribbled header, head/tail or slot word). The operation stops instead
// of following a wild index; the queue should be discarded.
var ErrCorrupt = errors.New("queue: corrupted shared state")
