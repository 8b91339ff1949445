//go:build race

package servicetest

// raceEnabled builds the service with the race detector too when the test
// binary has it, so tests that drive a real service check its side as well.
const raceEnabled = true
