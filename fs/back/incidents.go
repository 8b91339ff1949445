package back

import (
	"sync"
	"time"
)

// Incidents logs what a hostile or broken tenant did to one shared
// structure after another: the first Burst incidents of a structure at
// once, with their cause; later ones at most once per Every, as a count;
// Flush reports the counts not logged yet. So a tenant scribbling a
// structure (or sending bad requests) in a loop costs a line per
// structure and period, not a line per incident.
type Incidents struct {
	Every time.Duration // 0: 10s
	Burst uint64        // incidents of a structure logged one by one (0: 1)
	Logf  func(format string, args ...any)

	mu   sync.Mutex
	byID map[string]*incident
}

type incident struct {
	count, unreported uint64
	last              time.Time
	cause             string
}

// Add records an incident of structure what (e.g. "queue 3") with its
// cause and what was done about it, logging as described above.
func (l *Incidents) Add(what, cause string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byID == nil {
		l.byID = map[string]*incident{}
	}
	in := l.byID[what]
	if in == nil {
		in = &incident{}
		l.byID[what] = in
	}
	in.count++
	in.unreported++
	in.cause = cause
	every := l.Every
	if every <= 0 {
		every = 10 * time.Second
	}
	if in.count <= max(l.Burst, 1) {
		if l.Logf != nil {
			l.Logf("%s: %s", what, cause)
		}
		in.unreported = 0
		in.last = time.Now()
		return
	}
	if time.Since(in.last) >= every {
		l.reportLocked(what, in)
	}
}

// Count is the number of incidents of structure what.
func (l *Incidents) Count(what string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if in := l.byID[what]; in != nil {
		return in.count
	}
	return 0
}

// Flush logs the incidents not reported yet.
func (l *Incidents) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for what, in := range l.byID {
		if in.unreported > 0 {
			l.reportLocked(what, in)
		}
	}
}

func (l *Incidents) reportLocked(what string, in *incident) {
	if l.Logf != nil {
		l.Logf("%s: %d incident(s) in all, %d since the last report; last: %s", what, in.count, in.unreported, in.cause)
	}
	in.unreported = 0
	in.last = time.Now()
}
