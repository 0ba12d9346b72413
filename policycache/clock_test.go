package policycache

import (
	"testing"
	"time"
)

// On the coarse clock, entries leave the hot path clockMargin early, so the
// clock's lag never stretches a TTL or a max_age.
func TestHitUntil(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	coarse := &Cache{useCoarse: true}
	if got, want := coarse.hitUntil(at), at.Add(-clockMargin).UnixNano(); got != want {
		t.Errorf("coarse: %d, want %d", got, want)
	}
	exact := &Cache{now: func() time.Time { return at }}
	if got := exact.hitUntil(at); got != at.UnixNano() || exact.hitNow() < got {
		t.Errorf("injected clock: hitUntil %d, hitNow %d; want the entry due exactly at checkAt", got, exact.hitNow())
	}
}
