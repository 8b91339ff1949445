package runner

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// progress prints the live status line on stderr: rewritten in place on a
// terminal, one line per change otherwise (logs, CI).
type progress struct {
	w     io.Writer
	tty   bool
	start time.Time

	mu       sync.Mutex
	total    int // points
	done     int // points finished (measured, skipped or failed)
	repsRun  int
	repTime  time.Duration // summed wall time of finished repetitions
	minReps  int
	line     string
	curRep   int // repetitions finished in the current point
	phase    string
	stopped  bool
	tick     *time.Ticker
	tickDone chan struct{}
}

func newProgress(w io.Writer, totalPoints, minReps int) *progress {
	p := &progress{w: w, start: time.Now(), total: totalPoints, minReps: minReps}
	if f, ok := w.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		p.tty = err == nil
	}
	if p.tty {
		p.tick = time.NewTicker(time.Second)
		p.tickDone = make(chan struct{})
		go func() {
			for {
				select {
				case <-p.tick.C:
				case <-p.tickDone:
					return
				}
				p.mu.Lock()
				if !p.stopped && p.line != "" {
					p.printLocked()
				}
				p.mu.Unlock()
			}
		}()
	}
	return p
}

// status sets the current activity: point i (0-based), system, pools, rep.
func (p *progress) status(point int, system string, pools, rep, maxReps int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.curRep = rep
	p.phase = ""
	p.line = fmt.Sprintf("point %d/%d  %s  pools=%d  rep %d/%d", point+1, p.total, system, pools, rep+1, maxReps)
	p.printLocked()
}

// setPhase names what the current repetition is doing; shown on a
// terminal only (logs get one line per repetition).
func (p *progress) setPhase(phase string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase = phase
	if p.tty {
		p.printLocked()
	}
}

func (p *progress) printLocked() {
	elapsed := time.Since(p.start).Round(time.Second)
	s := fmt.Sprintf("[%s elapsed, ETA %s] %s", fmtDur(elapsed), p.etaLocked(), p.line)
	if p.phase != "" {
		s += "  " + p.phase
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", s)
	} else {
		fmt.Fprintln(p.w, s)
	}
}

// etaLocked assumes the remaining points need the minimum repetitions at
// the mean repetition time seen so far.
func (p *progress) etaLocked() string {
	if p.repsRun == 0 {
		return "?"
	}
	per := p.repTime / time.Duration(p.repsRun)
	reps := max((p.total-p.done)*p.minReps-p.curRep, 0)
	left := time.Duration(reps) * per
	return fmtDur(left.Round(time.Second))
}

func (p *progress) repDone(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.repsRun++
	p.repTime += d
}

func (p *progress) pointDone() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.curRep = 0
}

// logf prints a message on its own line without losing the status line.
func (p *progress) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s\n", msg)
		if p.line != "" && !p.stopped {
			p.printLocked()
		}
	} else {
		fmt.Fprintln(p.w, msg)
	}
}

func (p *progress) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	if p.tick != nil {
		p.tick.Stop()
		close(p.tickDone)
	}
	if p.tty && p.line != "" {
		fmt.Fprintln(p.w)
	}
}

func fmtDur(d time.Duration) string {
	s := int(d.Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
