package tlsrpt

import (
	"fmt"
	"testing"
)

// BenchmarkRecordSuccess records successes of one policy from every
// processor through a kept PolicyCounter, the MTA's hot path.
func BenchmarkRecordSuccess(b *testing.B) {
	c := &Collector{OrganizationName: "o", ContactInfo: "a@sender.example"}
	pc := c.Policy(stsPolicy("example.com"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pc.Success()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
}

// BenchmarkRecordSuccessLookup looks the counter up for every session
// (c.Policy(p).Success()), spread over 100 policies.
func BenchmarkRecordSuccessLookup(b *testing.B) {
	c := &Collector{OrganizationName: "o", ContactInfo: "a@sender.example"}
	policies := make([]Policy, 100)
	for i := range policies {
		policies[i] = stsPolicy(fmt.Sprintf("d%d.example", i))
		c.Policy(policies[i])
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Policy(policies[i%len(policies)]).Success()
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
}

// BenchmarkRecordFailure records failures with a detail already counted.
func BenchmarkRecordFailure(b *testing.B) {
	c := &Collector{OrganizationName: "o", ContactInfo: "a@sender.example"}
	pc := c.Policy(stsPolicy("example.com"))
	d := expiredAt("198.51.100.7")
	pc.Failure(d)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pc.Failure(d)
		}
	})
}
