package queue_test

import (
	"fmt"
	"os"
	"time"

	"polytropon/ipc/queue"
	"polytropon/ipc/shm"
)

// A filesystem service formats an RCQB request queue in a pool-scoped
// System V segment; application processes attach to the same key with
// init=false and enqueue request-descriptor indices.
func Example_rcqb() {
	d, _ := queue.Lookup("rcqb")
	cfg := queue.Config{Capacity: 256, Wait: queue.SpinFutex, SpinBudget: 200, Timeout: time.Second}

	seg, err := shm.Create(shm.Key(fmt.Sprintf("example-%d", os.Getpid()), "queue/0"), d.Size(cfg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Detach()
	defer seg.Remove()

	service, err := d.New(seg.Bytes(), cfg, true) // format
	if err != nil {
		fmt.Println(err)
		return
	}
	app, err := d.New(seg.Bytes(), cfg, false) // attach (normally another process)
	if err != nil {
		fmt.Println(err)
		return
	}
	for slot := uint64(1); slot <= 3; slot++ {
		app.Enqueue(slot)
	}
	for i := 0; i < 3; i++ {
		v, _ := service.Dequeue()
		fmt.Println("request descriptor", v)
	}
	_, err = service.TryDequeue()
	fmt.Println(err)
	// Output:
	// request descriptor 1
	// request descriptor 2
	// request descriptor 3
	// queue: empty
}
