//go:build race

package testenv

// RaceEnabled reports whether the test binary has the race detector.
const RaceEnabled = true
