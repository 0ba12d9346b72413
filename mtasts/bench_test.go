package mtasts

import "testing"

// benchPolicy is the policy of SPEC.md "Benchmark inputs".
const benchPolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: mx2.example.com\r\nmx: *.mail.example.net\r\nmax_age: 604800\r\n"

func BenchmarkParsePolicy(b *testing.B) {
	data := []byte(benchPolicy)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParsePolicy(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRecord(b *testing.B) {
	const txt = "v=STSv1; id=20160831085700Z;"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRecord(txt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatch is the MX host check of a delivery (RFC 8461 §4.1): a
// wildcard match in mixed case against SPEC.md's benchmark policy.
// Target: under 60 ns/op, 0 allocs/op.
func BenchmarkMatch(b *testing.B) {
	p, err := ParsePolicy([]byte(benchPolicy))
	if err != nil {
		b.Fatal(err)
	}
	const host = "MX7.Mail.Example.NET" // mixed case, hits *.mail.example.net
	if !p.Match(host) {
		b.Fatalf("Match(%q) = false", host)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !p.Match(host) {
			b.Fatal("no match")
		}
	}
}

// BenchmarkMarshalText is the serialisation a policy host does per
// request. Target: 1 allocs/op, the body itself.
func BenchmarkMarshalText(b *testing.B) {
	p, err := ParsePolicy([]byte(benchPolicy))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.MarshalText(); err != nil {
			b.Fatal(err)
		}
	}
}
