//go:build race

package client_test

// raceEnabled builds the service with the race detector too, so the tests
// that drive a real service process check the service side as well.
const raceEnabled = true
