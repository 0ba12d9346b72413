package world_test

import (
	"context"
	"fmt"
	"time"

	"github.com/smtpsec/smtpsec/examples/demo/world"
	"github.com/smtpsec/smtpsec/mtasts"
)

// A world at a fixed date: example.com publishes a policy, and a client
// discovers it through the world's DNS server and policy host.
func Example() {
	w, err := world.New(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	p, err := mtasts.NewPolicy(mtasts.ModeEnforce, 14*24*time.Hour, world.MX2)
	if err != nil {
		fmt.Println(err)
		return
	}
	id := w.Publish(p)

	ctx := context.Background()
	rec, err := mtasts.LookupRecord(ctx, w.Net.Resolver, world.Domain)
	if err != nil {
		fmt.Println(err)
		return
	}
	fetched, err := mtasts.Fetch(ctx, w.HTTPClient(), world.Domain)
	if err != nil {
		fmt.Println(err)
		return
	}
	mxs, err := w.Net.Resolver.LookupMX(ctx, world.Domain)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("TXT id is the policy's id:", rec.ID == id)
	fmt.Println("policy:", fetched.Mode, fetched.MX)
	for _, mx := range mxs {
		fmt.Println("MX", mx.Pref, mx.Host, "allowed:", fetched.Match(mx.Host))
	}
	// Output:
	// TXT id is the policy's id: true
	// policy: enforce [mx2.example.com]
	// MX 10 mx1.example.com. allowed: false
	// MX 20 mx2.example.com. allowed: true
}
