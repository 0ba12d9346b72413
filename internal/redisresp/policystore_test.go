package redisresp_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/internal/redisresp"
	"github.com/smtpsec/smtpsec/internal/redistest"
	"github.com/smtpsec/smtpsec/policycache"
)

// TestPolicyStore: Get, Put, PutExpiring, Delete and Keys on a real
// server, with the data layout of the redisstore module, a prefix with
// glob characters and the size limit.
func TestPolicyStore(t *testing.T) {
	s := redistest.Start(t)
	c := newClient(t, "redis://"+s.Addr)
	ctx := context.Background()
	const prefix = "fl[e]et*?:"
	st := redisresp.NewPolicyStore(c, prefix)
	other := redisresp.NewPolicyStore(c, "fleet:")     // would match an unescaped pattern
	decoy := redisresp.NewPolicyStore(c, "flxexetxx:") // matches the SCAN pattern, not the prefix
	if _, err := st.Get(ctx, "example.com"); !errors.Is(err, policycache.ErrCacheMiss) {
		t.Fatalf("Get of a missing key: %v", err)
	}
	if err := st.Put(ctx, "example.com", []byte("entry\r\n1")); err != nil {
		t.Fatal(err)
	}
	if r := do(t, c, "GET", prefix+"policy:example.com"); string(r.Bytes) != "entry\r\n1" {
		t.Errorf("raw value %q", r.Bytes)
	}
	if r := do(t, c, "PTTL", prefix+"policy:example.com"); r.Int != -1 {
		t.Errorf("PTTL after Put: %d, want -1 (no expiry)", r.Int)
	}
	if err := st.PutExpiring(ctx, "expiring.example", []byte("e"), time.Hour+time.Microsecond); err != nil {
		t.Fatal(err)
	}
	if r := do(t, c, "PTTL", prefix+"policy:expiring.example"); r.Int <= 3599000 || r.Int > 3600001 {
		t.Errorf("PTTL after PutExpiring(1h): %d ms", r.Int)
	}
	if err := other.Put(ctx, "fleet.example", []byte("o")); err != nil {
		t.Fatal(err)
	}
	if err := decoy.Put(ctx, "decoy.example", []byte("o")); err != nil {
		t.Fatal(err)
	}
	for i := range 1500 { // several SCAN rounds
		if err := st.Put(ctx, "d"+itoa(i)+".example", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := st.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1502 || !slices.Contains(keys, "example.com") || !slices.Contains(keys, "expiring.example") || slices.Contains(keys, "fleet.example") || slices.Contains(keys, "decoy.example") {
		t.Errorf("%d keys: %.200q", len(keys), keys)
	}
	got, err := st.Get(ctx, "example.com")
	if err != nil || string(got) != "entry\r\n1" {
		t.Errorf("Get: %q, %v", got, err)
	}
	if err := st.PutExpiring(ctx, "example.com", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "example.com"); !errors.Is(err, policycache.ErrCacheMiss) {
		t.Errorf("Get after PutExpiring(0): %v", err)
	}
	if err := st.Delete(ctx, "expiring.example"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "never.example"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	if _, err := st.Get(ctx, "expiring.example"); !errors.Is(err, policycache.ErrCacheMiss) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := st.Put(ctx, "big.example", bytes.Repeat([]byte("x"), 1<<20+1)); err == nil {
		t.Error("Put of more than 1 MiB: no error")
	}
	if err := st.Put(ctx, "empty.example", nil); err == nil {
		t.Error("Put of nothing: no error")
	}
	do(t, c, "SET", prefix+"policy:big.example", strings.Repeat("x", 1<<20+10))
	if _, err := st.Get(ctx, "big.example"); err == nil || errors.Is(err, policycache.ErrCacheMiss) {
		t.Errorf("Get of more than 1 MiB: %v", err)
	}
	do(t, c, "LPUSH", prefix+"policy:list.example", "x")
	var se *redisresp.ServerError
	if _, err := st.Get(ctx, "list.example"); !errors.As(err, &se) {
		t.Errorf("Get of a list: %v, want a ServerError", err)
	}
}

// BenchmarkPolicyStoreGet: one stored entry of 300 bytes read from a
// local redis-server.
func BenchmarkPolicyStoreGet(b *testing.B) {
	s := redistest.Start(b)
	st := redisresp.NewPolicyStore(newClient(b, "redis://"+s.Addr), "bench:")
	ctx := context.Background()
	if err := st.Put(ctx, "example.com", bytes.Repeat([]byte("x"), 300)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(300)
	for b.Loop() {
		if _, err := st.Get(ctx, "example.com"); err != nil {
			b.Fatal(err)
		}
	}
}
