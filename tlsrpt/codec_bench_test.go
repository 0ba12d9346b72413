package tlsrpt

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"
)

// benchReport builds the report of SPEC.md "Benchmark inputs": 200 policy
// results (sts, 4 policy-string lines, one mx-host), each with summary
// 1000/3 and 5 failure details (certificate-expired, IPv4 addresses, a
// reason code).
func benchReport() *Report {
	r := &Report{
		OrganizationName: "Example Sender Inc.",
		DateRange: DateRange{
			Start: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
			End:   time.Date(2024, 3, 1, 23, 59, 59, 0, time.UTC),
		},
		ContactInfo: "tlsrpt@sender.example",
		ReportID:    "2024-03-01T00:00:00Z_bench@sender.example",
	}
	for i := range 200 {
		domain := fmt.Sprintf("customer%03d.example", i)
		pr := PolicyResult{
			Policy: AppliedPolicy{
				Type: PolicySTS,
				PolicyString: []string{
					"version: STSv1",
					"mode: enforce",
					"mx: *.mail." + domain,
					"max_age: 604800",
				},
				Domain: domain,
				MXHost: []string{"*.mail." + domain},
			},
			Summary: Summary{TotalSuccessfulSessionCount: 1000, TotalFailureSessionCount: 3},
		}
		for j := range 5 {
			pr.FailureDetails = append(pr.FailureDetails, FailureDetail{
				ResultType:          ResultCertificateExpired,
				SendingMTAIP:        netip.AddrFrom4([4]byte{192, 0, 2, byte(j + 1)}),
				ReceivingMXHostname: fmt.Sprintf("mx%d.mail.%s", j+1, domain),
				ReceivingIP:         netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}),
				FailedSessionCount:  1,
				FailureReasonCode:   "X509_V_ERR_CERT_HAS_EXPIRED",
			})
		}
		r.Policies = append(r.Policies, pr)
	}
	return r
}

func benchJSON(tb testing.TB) []byte {
	b, err := benchReport().MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func benchGzip(tb testing.TB) []byte {
	var buf bytes.Buffer
	if err := EncodeGzip(&buf, benchReport()); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkParseReport decodes the benchmark report. Target (2 cores):
// plain JSON at least 260 MB/s.
func BenchmarkParseReport(b *testing.B) {
	for _, bc := range []struct {
		name string
		data []byte
	}{
		{"json", benchJSON(b)},
		{"gzip", benchGzip(b)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			// Throughput is counted in JSON bytes for both, so that the
			// figures compare.
			b.SetBytes(int64(len(benchJSON(b))))
			r := bytes.NewReader(bc.data)
			for b.Loop() {
				r.Reset(bc.data)
				if _, err := ParseReport(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeReport encodes the benchmark report: MarshalJSON,
// EncodeGzip and an Encoder. Target: at least as fast as decoding.
func BenchmarkEncodeReport(b *testing.B) {
	r := benchReport()
	n := int64(len(benchJSON(b)))
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(n)
		for b.Loop() {
			if _, err := r.MarshalJSON(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gzip", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(n)
		for b.Loop() {
			if err := EncodeGzip(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	// An Encoder reuses its compressor and buffer.
	b.Run("gzip-reuse", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(n)
		var e Encoder
		for b.Loop() {
			if err := e.EncodeGzip(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeEmptyDetails decodes a report of 10^5 and 10^6 "{}"
// failure details (the hostile input of issue 11, under a Decoder whose
// MaxFailureDetails lets them through), gzip-compressed: the time per
// byte of JSON stays the same as the input grows tenfold.
func BenchmarkDecodeEmptyDetails(b *testing.B) {
	for _, k := range []int{1e5, 1e6} {
		gz, n := hostileGzip(b, hostileHead, hostilePolicy, "{}", repeat{",{}", k - 1}, "]}]}")
		b.Run(fmt.Sprintf("%d", k), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(n)
			d := Decoder{MaxFailureDetails: k}
			r := bytes.NewReader(gz)
			for b.Loop() {
				r.Reset(gz)
				if _, err := d.Decode(r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/byte")
		})
	}
}
