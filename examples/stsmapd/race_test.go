//go:build race

package main

// raceEnabled reports a build with the race detector, which makes TLS
// handshakes several times slower: load tests then use fewer domains.
const raceEnabled = true
