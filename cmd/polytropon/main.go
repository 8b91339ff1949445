// Command polytropon is the single entry point of the toolkit: the
// filesystem service, the experiment harness and the benchmarks. Each
// subcommand lives in its own file, binds its flags and calls the library;
// main only dispatches.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand. run parses args (without the subcommand name)
// and does the work; it returns flag.ErrHelp after printing usage on -h.
type command struct {
	name    string
	summary string
	run     func(stdout, stderr io.Writer, args []string) error
}

var commands = map[string]command{}

// register adds a subcommand; called from the init function of its file.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("subcommand registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	// Systems start this same binary inside pools (the filesystem service,
	// FUSE daemons, workload agents); tell them where it is, whatever it is
	// named, unless the user chose another one.
	if os.Getenv("POLYTROPON_BIN") == "" {
		if exe, err := os.Executable(); err == nil {
			os.Setenv("POLYTROPON_BIN", exe)
		}
	}
	os.Exit(run(os.Stdout, os.Stderr, os.Args[1:]))
}

func run(stdout, stderr io.Writer, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "polytropon: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(stdout, stderr, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "polytropon %s: %v\n", c.name, err)
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			return coded.ExitCode()
		}
		return 1
	}
	return 0
}

// usageError is a bad command line: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
func (usageError) ExitCode() int   { return 2 }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: polytropon <command> [flags] [args]")
	fmt.Fprintln(w, "\nStorage I/O isolation toolkit for multitenant container hosts.\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		if !strings.HasPrefix(n, "_") { // internal helpers (pool agents) stay hidden
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'polytropon <command> -h' for a command's flags.")
}

// newFlagSet returns a flag set that prints a usage line with the command's
// summary to stderr and reports errors instead of exiting.
func newFlagSet(name, argsUsage string, stderr io.Writer) *flag.FlagSet {
	fset := flag.NewFlagSet("polytropon "+name, flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() {
		fmt.Fprintf(stderr, "usage: polytropon %s [flags] %s\n\n%s\n\nFlags:\n", name, argsUsage, commands[name].summary)
		fset.PrintDefaults()
	}
	return fset
}
