package mtasts

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/dns/dnsmessage"
)

// wireTXT packs rr into a DNS message and reads the character-strings of
// its TXT data back with golang.org/x/net/dns/dnsmessage: the bytes a
// resolver receives, independent of miekg/dns's escaped presentation.
func wireTXT(t testing.TB, rec DNSRecord) []string {
	t.Helper()
	m := new(dns.Msg)
	m.Answer = []dns.RR{miekgRR(t, rec)}
	wire, err := m.Pack()
	if err != nil {
		t.Fatalf("pack %v: %v", rec, err)
	}
	var p dnsmessage.Parser
	if _, err := p.Start(wire); err != nil {
		t.Fatal(err)
	}
	if err := p.SkipAllQuestions(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AnswerHeader(); err != nil {
		t.Fatal(err)
	}
	txt, err := p.TXTResource()
	if err != nil {
		t.Fatal(err)
	}
	return txt.TXT
}

// miekgRR parses rec's zone-file line with miekg/dns, an independent
// zone-file reader.
func miekgRR(t testing.TB, rec DNSRecord) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(rec.String())
	if err != nil {
		t.Fatalf("dns.NewRR(%q): %v", rec.String(), err)
	}
	return rr
}

// checkZoneLine asserts that rec's zone-file text parses back, with
// miekg/dns, into the same owner, type, TTL and data.
func checkZoneLine(t testing.TB, rec DNSRecord) {
	t.Helper()
	rr := miekgRR(t, rec)
	h := rr.Header()
	if h.Name != rec.Name || dns.TypeToString[h.Rrtype] != rec.Type || time.Duration(h.Ttl)*time.Second != rec.TTL {
		t.Errorf("zone line %q parses back as %q", rec.String(), rr.String())
	}
	var data string
	switch rr := rr.(type) {
	case *dns.TXT:
		data = strings.Join(wireTXT(t, rec), "")
	case *dns.CNAME:
		data = rr.Target
	}
	if data != rec.Value {
		t.Errorf("zone line %q has data %q, want %q", rec.String(), data, rec.Value)
	}
}

func TestRecordTXT(t *testing.T) {
	tests := []struct {
		domain string
		rec    *Record
		ttl    time.Duration
		want   string
	}{
		{"example.com", &Record{ID: "20160831085700Z"}, time.Hour,
			"_mta-sts.example.com. 3600 IN TXT \"v=STSv1; id=20160831085700Z\""},
		{"Example.COM.", &Record{ID: "abc"}, 300 * time.Second,
			"_mta-sts.example.com. 300 IN TXT \"v=STSv1; id=abc\""},
		{"bücher.example", &Record{ID: "x1"}, 90*time.Second + 999*time.Millisecond,
			"_mta-sts.xn--bcher-kva.example. 90 IN TXT \"v=STSv1; id=x1\""},
		{"example.com", &Record{ID: "a", Extensions: []Extension{{"ext", `q"b\s`}}}, 0,
			`_mta-sts.example.com. 0 IN TXT "v=STSv1; id=a; ext=q\"b\\s"`},
	}
	for _, tt := range tests {
		rr, err := RecordTXT(tt.domain, tt.rec, tt.ttl)
		if err != nil {
			t.Errorf("RecordTXT(%q, %v): %v", tt.domain, tt.rec, err)
			continue
		}
		if got := rr.String(); got != tt.want {
			t.Errorf("RecordTXT(%q, %v) =\n%q, want\n%q", tt.domain, tt.rec, got, tt.want)
		}
		checkZoneLine(t, rr)
		if got := strings.Join(wireTXT(t, rr), ""); got != tt.rec.String() {
			t.Errorf("on the wire: %q, want %q", got, tt.rec.String())
		}
	}
}

// TestRecordTXTSplit: records longer than 255 bytes are split into
// character-strings of at most 255 bytes on the wire, which a resolver
// joins back into the record.
func TestRecordTXTSplit(t *testing.T) {
	tests := []struct {
		name  string
		value string // of an extension "x"
		parts []int  // wire lengths of the character-strings
	}{
		{"fits", strings.Repeat("a", 255-len("v=STSv1; id=abc; x=")), []int{255}},
		{"one over", strings.Repeat("a", 256-len("v=STSv1; id=abc; x=")), []int{255, 1}},
		{"three strings", strings.Repeat("b", 600), []int{255, 255, 109}},
		// Escaped characters count once on the wire: a backslash at byte
		// 255 ends the first string.
		{"escape at the edge", strings.Repeat("c", 255-len("v=STSv1; id=abc; x=")-1) + `\"` + "d", []int{255, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &Record{ID: "abc", Extensions: []Extension{{"x", tt.value}}}
			rr, err := RecordTXT("example.com", rec, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			wire := wireTXT(t, rr)
			var lens []int
			for _, s := range wire {
				lens = append(lens, len(s))
			}
			if !slices.Equal(lens, tt.parts) {
				t.Errorf("character-string lengths = %v, want %v", lens, tt.parts)
			}
			joined := strings.Join(wire, "")
			if joined != rec.String() {
				t.Errorf("joined = %q, want %q", joined, rec.String())
			}
			back, err := ParseRecord(joined)
			if err != nil || back.ID != "abc" || back.Extensions[0].Value != tt.value {
				t.Errorf("ParseRecord(joined) = %+v, %v", back, err)
			}
			checkZoneLine(t, rr)
		})
	}
}

// TestRecordTXTResolver serves a long record from a real DNS server and
// reads it with LookupRecord: what senders will see.
func TestRecordTXTResolver(t *testing.T) {
	rec := &Record{ID: "20240101", Extensions: []Extension{{"note", strings.Repeat(`x\y"z`, 100)}}}
	rr, err := RecordTXT("long.example", rec, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := startZoneDNS(t, nil, miekgRR(t, rr))
	got, err := LookupRecord(context.Background(), srv.resolver(), "long.example")
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != rec.String() {
		t.Errorf("LookupRecord = %q, want %q", got, rec)
	}
}

func TestRecordTXTErrors(t *testing.T) {
	tests := []struct {
		name   string
		domain string
		rec    *Record
		ttl    time.Duration
		is     error
	}{
		{"nil record", "example.com", nil, time.Hour, ErrInvalidRecord},
		{"empty id", "example.com", &Record{}, time.Hour, ErrInvalidRecord},
		{"id too long", "example.com", &Record{ID: strings.Repeat("a", 33)}, time.Hour, ErrInvalidRecord},
		{"id with a dash", "example.com", &Record{ID: "2024-01-01"}, time.Hour, ErrInvalidRecord},
		{"bad extension value", "example.com", &Record{ID: "a", Extensions: []Extension{{"x", "a b"}}}, time.Hour, ErrInvalidRecord},
		{"id with a trailing space", "example.com", &Record{ID: "0 ", Extensions: []Extension{{"x", "1"}}}, time.Hour, ErrInvalidRecord},
		{"bad extension name", "example.com", &Record{ID: "a", Extensions: []Extension{{"_x", "y"}}}, time.Hour, ErrInvalidRecord},
		{"empty domain", "", &Record{ID: "a"}, time.Hour, nil},
		{"bad domain", "exa mple.com", &Record{ID: "a"}, time.Hour, nil},
		{"domain too long", strings.Repeat("abcdefghi.", 25) + "com", &Record{ID: "a"}, time.Hour, nil},
		{"negative TTL", "example.com", &Record{ID: "a"}, -time.Second, nil},
		{"TTL too large", "example.com", &Record{ID: "a"}, (maxTTL + 1) * time.Second, nil},
	}
	for _, tt := range tests {
		rr, err := RecordTXT(tt.domain, tt.rec, tt.ttl)
		if err == nil || rr != (DNSRecord{}) {
			t.Errorf("%s: RecordTXT = %v, %v; want an error", tt.name, rr, err)
			continue
		}
		if is := cmp.Or(tt.is, ErrInvalidDNSRecord); !errors.Is(err, is) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.is)
		}
	}
	if _, err := RecordTXT("example.com", &Record{ID: "a"}, maxTTL*time.Second); err != nil {
		t.Errorf("largest TTL: %v", err)
	}
}

// TestDNSRecordTXT: a TXT record written as a literal, such as the TLS-RPT
// record of RFC 8460 §3, validates and survives the zone file and the wire.
func TestDNSRecordTXT(t *testing.T) {
	rr := DNSRecord{Name: "_smtp._tls.example.com.", Type: "TXT", TTL: 24 * time.Hour, Value: "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"}
	if err := rr.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := rr.String(), `_smtp._tls.example.com. 86400 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	checkZoneLine(t, rr)

	rr.Value = "v=TLSRPTv1;rua=https://reports.example.net/" + strings.Repeat("p", 300)
	if wire := wireTXT(t, rr); len(wire) != 2 || strings.Join(wire, "") != rr.Value {
		t.Errorf("long record on the wire: %q", wire)
	}
	checkZoneLine(t, rr)

	good := DNSRecord{Name: "_smtp._tls.example.com.", Type: "TXT", TTL: time.Hour, Value: "v=TLSRPTv1; rua=mailto:a@example.com"}
	for name, bad := range map[string]func(*DNSRecord){
		"empty text":      func(r *DNSRecord) { r.Value = "" },
		"non-ASCII":       func(r *DNSRecord) { r.Value = "v=TLSRPTv1; rua=mailto:é@example.com" },
		"newline":         func(r *DNSRecord) { r.Value += "\n" },
		"relative name":   func(r *DNSRecord) { r.Name = "_smtp._tls.example.com" },
		"upper-case name": func(r *DNSRecord) { r.Name = "_smtp._tls.Example.com." },
		"bad label":       func(r *DNSRecord) { r.Name = "_smtp._tls.exa mple.com." },
		"lone underscore": func(r *DNSRecord) { r.Name = "_._tls.example.com." },
		"negative TTL":    func(r *DNSRecord) { r.TTL = -time.Second },
		"TTL too large":   func(r *DNSRecord) { r.TTL = (maxTTL + 1) * time.Second },
		"unknown type":    func(r *DNSRecord) { r.Type = "MX" },
		"relative CNAME":  func(r *DNSRecord) { r.Type, r.Value = "CNAME", "provider.example" },
		"name too long":   func(r *DNSRecord) { r.Name = "_x." + strings.Repeat("abcdefghi.", 25) + "com." },
	} {
		r := good
		bad(&r)
		if err := r.Validate(); !errors.Is(err, ErrInvalidDNSRecord) {
			t.Errorf("%s: Validate(%v) = %v, want ErrInvalidDNSRecord", name, r, err)
		}
	}
}

func TestCNAMEs(t *testing.T) {
	rr, err := RecordCNAME("Customer.Example", "provider.example.", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rr.String(), "_mta-sts.customer.example. 3600 IN CNAME _mta-sts.provider.example."; got != want {
		t.Errorf("RecordCNAME = %q, want %q", got, want)
	}
	checkZoneLine(t, rr)

	rr, err = PolicyHostCNAME("bücher.example", "MTA-STS.provider.example", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rr.String(), "mta-sts.xn--bcher-kva.example. 3600 IN CNAME mta-sts.provider.example."; got != want {
		t.Errorf("PolicyHostCNAME = %q, want %q", got, want)
	}
	checkZoneLine(t, rr)

	for _, f := range []func() (DNSRecord, error){
		func() (DNSRecord, error) { return RecordCNAME("example.com", "bad provider", time.Hour) },
		func() (DNSRecord, error) { return RecordCNAME("", "provider.example", time.Hour) },
		func() (DNSRecord, error) { return PolicyHostCNAME("example.com", "", time.Hour) },
		func() (DNSRecord, error) { return PolicyHostCNAME("example.com", "host.example", -time.Hour) },
	} {
		if rr, err := f(); !errors.Is(err, ErrInvalidDNSRecord) {
			t.Errorf("got %v, %v; want ErrInvalidDNSRecord", rr, err)
		}
	}
}

// TestDelegation follows the §8.2 records through a real DNS server: the
// customer's _mta-sts CNAME leads to the provider's TXT record.
func TestDelegation(t *testing.T) {
	cname, err := RecordCNAME("customer.example", "provider.example", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := RecordTXT("provider.example", &Record{ID: "prov2024"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := startZoneDNS(t, nil, miekgRR(t, cname), miekgRR(t, txt))
	rec, err := LookupRecord(context.Background(), srv.resolver(), "customer.example")
	if err != nil || rec.ID != "prov2024" {
		t.Errorf("LookupRecord = %v, %v", rec, err)
	}
}

// FuzzRecordTXT: whatever record RecordTXT accepts comes back unchanged
// from both the zone-file text and the wire, split at 255 bytes.
func FuzzRecordTXT(f *testing.F) {
	f.Add("20160831085700Z", "", "")
	f.Add("a", "note", `q"b\s`)
	f.Add("abc", "x", strings.Repeat("y", 300))
	f.Fuzz(func(t *testing.T, id, name, value string) {
		rec := &Record{ID: id}
		if name != "" {
			rec.Extensions = []Extension{{name, value}}
		}
		rr, err := RecordTXT("example.com", rec, time.Hour)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("error %v does not match ErrInvalidRecord", err)
			}
			return
		}
		wire := wireTXT(t, rr)
		for _, s := range wire[:len(wire)-1] {
			if len(s) != 255 {
				t.Fatalf("inner character-string of %d bytes", len(s))
			}
		}
		back, err := ParseRecord(strings.Join(wire, ""))
		if err != nil {
			t.Fatalf("ParseRecord(wire): %v", err)
		}
		if back.String() != rec.String() {
			t.Fatalf("round trip %q → %q", rec, back)
		}
		checkZoneLine(t, rr)
	})
}

// FuzzDNSRecordTXT: any TXT text that Validate accepts survives the wire
// and the zone-file text byte for byte.
func FuzzDNSRecordTXT(f *testing.F) {
	f.Add("v=TLSRPTv1; rua=mailto:tlsrpt@example.com")
	f.Add(`v=TLSRPTv1;rua=https://r.example/"\` + strings.Repeat("z", 260))
	f.Fuzz(func(t *testing.T, text string) {
		rr := DNSRecord{Name: "_smtp._tls.example.com.", Type: "TXT", TTL: time.Hour, Value: text}
		if rr.Validate() != nil {
			return
		}
		if got := strings.Join(wireTXT(t, rr), ""); got != text {
			t.Fatalf("wire %q, want %q", got, text)
		}
		checkZoneLine(t, rr)
	})
}
