package shm_test

import (
	"fmt"
	"os"

	"polytropon/ipc/shm"
)

// A service creates a pool-scoped segment, lays out a counter at offset 64
// and bumps it atomically; offsets read back from shared memory are checked.
func Example() {
	key := shm.Key(fmt.Sprintf("example-%d", os.Getpid()), "counters")
	seg, err := shm.Create(key, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Detach()
	defer seg.Remove()

	r := seg.Region()
	r.StoreUint64(64, 41)
	v, _ := r.AddUint64(64, 1)
	fmt.Println("counter:", v)

	_, err = r.Slice(4000, 200) // a length from an untrusted peer
	fmt.Println(err)
	// Output:
	// counter: 42
	// shm: out of bounds: slice at offset 4000 length 200 in a region of 4096 bytes
}
