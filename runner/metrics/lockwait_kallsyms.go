package metrics

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The symbolizer of the lockwait collector: a static lock's kernel
// address -> its data symbol in /proc/kallsyms.

// kernelImageBase is where the x86-64 kernel image (and its static data)
// starts; locks below it live in the heap and have no symbol.
const kernelImageBase = 0xffffffff80000000

var (
	kallsymsOnce sync.Once
	kallsymsTab  *kallsyms
)

// cachedKallsyms loads /proc/kallsyms once per process (it does not change
// while the kernel runs).
func cachedKallsyms() *kallsyms {
	kallsymsOnce.Do(func() { kallsymsTab = loadKallsyms() })
	return kallsymsTab
}

// kallsyms are the kernel's data symbols, by address.
type kallsyms struct {
	addrs []uint64
	names []string
}

// loadKallsyms reads the data symbols of /proc/kallsyms; none when it
// cannot be read, or shows every address as 0 (kptr_restrict).
func loadKallsyms() *kallsyms {
	k := &kallsyms{}
	f, err := os.Open(procPath("kallsyms"))
	if err != nil {
		return k
	}
	defer f.Close()
	type sym struct {
		a uint64
		n string
	}
	var syms []sym
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 3 {
			continue
		}
		// Data symbols only: locks live in data, bss or rodata.
		switch fl[1] {
		case "d", "D", "b", "B", "r", "R":
		default:
			continue
		}
		a, err := strconv.ParseUint(fl[0], 16, 64)
		if err != nil || a == 0 {
			continue
		}
		syms = append(syms, sym{a, fl[2]})
	}
	sort.Slice(syms, func(i, j int) bool { return syms[i].a < syms[j].a })
	for _, s := range syms {
		k.addrs = append(k.addrs, s.a)
		k.names = append(k.names, s.n)
	}
	return k
}

// resolve names a static lock ("symbol" or "symbol+0xoff"); "" for heap
// addresses (locks inside inodes, dentries, ...).
func (k *kallsyms) resolve(addr uint64) string {
	if k == nil || len(k.addrs) == 0 {
		return ""
	}
	i := sort.Search(len(k.addrs), func(i int) bool { return k.addrs[i] > addr }) - 1
	if i < 0 || i == len(k.addrs)-1 {
		return "" // below the first or beyond the last data symbol
	}
	off := addr - k.addrs[i]
	if off >= 1<<16 {
		return ""
	}
	if off == 0 {
		return k.names[i]
	}
	return fmt.Sprintf("%s+0x%x", k.names[i], off)
}
