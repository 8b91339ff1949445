// Command genheader writes the C header of the wire protocol
// (fs/preload/polytropon_wire.h) from the Go definitions of package
// fs/wire. Run it with go generate ./fs/wire.
package main

import (
	"flag"
	"fmt"
	"os"

	"polytropon/fs/wire"
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
