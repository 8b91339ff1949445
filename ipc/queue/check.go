package queue

// Checker is implemented by shared designs that can validate their whole
// shared state at once: header words, head and tail, every slot. The
// owner of a queue (the back driver of a filesystem service) calls it
// periodically, so memory scribbled by a hostile or broken process is
// found even where no operation would trip over it (a bad magic that only
// a new attacher reads, a slot no ticket reaches yet). Check tolerates
// every state concurrent legitimate operations can leave, so it may run
// while they do; an error wraps ErrCorrupt and names the word.
//
// Stall names a state that only lasts an instant when every party is
// legitimate (an item nobody will take, a ticket nobody will fill): a key
// for it, so that the owner can tell whether the same state persists
// from one call to the next, and a description; ok false when there is
// none.
//
// Break marks the queue broken: every operation, also one waiting now,
// fails with ErrCorrupt at once (the owner is about to format the memory
// anew).
type Checker interface {
	Check() error
	Stall() (key uint64, why string, ok bool)
	Break()
}
