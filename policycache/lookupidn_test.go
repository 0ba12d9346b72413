package policycache_test

import (
	"testing"
)

// A domain is known by its normal form: a hit for a domain given in
// A-labels neither converts nor allocates, and the same domain written in
// U-labels, upper case or with a trailing dot shares its entry.
func TestLookupHitInALabels(t *testing.T) {
	w := newWorld(t)
	w.DNS.SetTXT("_mta-sts.xn--bcher-kva.example", 3600, "v=STSv1; id=idn1;")
	w.Host.Serve("xn--bcher-kva.example", benchPolicy)
	c := w.Cache(t, w.Config())
	for _, d := range []string{"xn--bcher-kva.example", "bücher.example", "BÜCHER.example.", "XN--BCHER-KVA.example"} {
		res, err := c.Lookup(ctx, d)
		if err != nil || res.Domain != "xn--bcher-kva.example" || res.ID != "idn1" || res.Policy == nil {
			t.Fatalf("Lookup(%q) = %+v, %v; want the policy of xn--bcher-kva.example", d, res, err)
		}
	}
	if n := w.Host.Requests("xn--bcher-kva.example"); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = c.Lookup(ctx, "xn--bcher-kva.example") }); n != 0 {
		t.Errorf("a hit in A-labels allocates %v times", n)
	}
}
