// Command genheader writes the C header of the wire protocol
// (fs/preload/polytropon_wire.h) from the Go definitions of package
// ipc/wire. Run it with go generate ./ipc/wire.
package main

import (
	"flag"
	"fmt"
	"os"

	"polytropon/ipc/wire"
)

func main() {
	out := flag.String("o", "", "output file")
	flag.Parse()
	h, err := wire.CHeader()
	if err == nil {
		err = os.WriteFile(*out, h, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genheader:", err)
		os.Exit(1)
	}
}
