//go:build !race

package tlsrpt

// raceEnabled says whether the race detector is on (its shadow memory
// counts in RSS).
const raceEnabled = false
