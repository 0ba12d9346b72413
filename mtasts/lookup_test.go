package mtasts

import (
	"context"
	"errors"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// stsZone is the DNS data of the LookupRecord tests: one name per case.
var stsZone = map[string]dnsAnswer{
	"_mta-sts.valid.example.":         {TXT: [][]string{{"v=STSv1; id=20160831085700Z;"}}},
	"_mta-sts.nodata.example.":        {},
	"_mta-sts.spf-only.example.":      {TXT: [][]string{{"v=spf1 -all"}}},
	"_mta-sts.sts-and-spf.example.":   {TXT: [][]string{{"v=spf1 -all"}, {"v=STSv1; id=a"}}},
	"_mta-sts.two.example.":           {TXT: [][]string{{"v=STSv1; id=a"}, {"v=STSv1; id=b"}}},
	"_mta-sts.malformed.example.":     {TXT: [][]string{{"v=STSv1; id="}}},
	"_mta-sts.lowercase-v.example.":   {TXT: [][]string{{"v=stsv1; id=a"}}},
	"_mta-sts.split.example.":         {TXT: [][]string{{"v=STSv1; id=2019", "0101"}}},
	"_mta-sts.servfail.example.":      {Rcode: dns.RcodeServerFailure},
	"_mta-sts.refused.example.":       {Rcode: dns.RcodeRefused},
	"_mta-sts.silent.example.":        {Silent: true},
	"_mta-sts.delegated.example.":     {CNAME: "_mta-sts.provider.example."},
	"_mta-sts.provider.example.":      {TXT: [][]string{{"v=STSv1; id=provider1"}}},
	"_mta-sts.xn--bcher-kva.example.": {TXT: [][]string{{"v=STSv1; id=idn"}}},
	// Too large for UDP: truncated, so the resolver asks again over TCP.
	"_mta-sts.large.example.": {TXT: [][]string{
		{strings.Repeat("a", 255), strings.Repeat("b", 255)}, {strings.Repeat("c", 255), strings.Repeat("d", 255)},
		{strings.Repeat("e", 255), strings.Repeat("f", 255)}, {"v=STSv1; id=", "viatcp"},
	}},
}

func TestLookupRecord(t *testing.T) {
	srv := startDNS(t, stsZone)
	r := srv.resolver()
	tests := []struct {
		domain    string
		wantID    string
		wantErr   error // sentinel the error must match; nil for success
		notFound  bool  // the resolver's *net.DNSError says IsNotFound
		wantQuery string
		wantTCP   bool // the answer needed TCP
	}{
		{domain: "valid.example", wantID: "20160831085700Z"},
		{domain: "VALID.Example.", wantID: "20160831085700Z", wantQuery: "_mta-sts.valid.example."},
		{domain: "bücher.example", wantID: "idn", wantQuery: "_mta-sts.xn--bcher-kva.example."},
		{domain: "split.example", wantID: "20190101"},
		{domain: "sts-and-spf.example", wantID: "a"},
		{domain: "delegated.example", wantID: "provider1"},
		{domain: "large.example", wantID: "viatcp", wantTCP: true},
		{domain: "absent.example", wantErr: ErrNoRecord, notFound: true},
		{domain: "nodata.example", wantErr: ErrNoRecord, notFound: true},
		{domain: "spf-only.example", wantErr: ErrNoRecord},
		{domain: "lowercase-v.example", wantErr: ErrNoRecord},
		{domain: "two.example", wantErr: ErrMultipleRecords},
		{domain: "malformed.example", wantErr: ErrInvalidRecord},
		{domain: "servfail.example", wantErr: ErrDNSTemporary},
		{domain: "refused.example", wantErr: ErrDNSTemporary},
	}
	sentinels := []error{ErrNoRecord, ErrMultipleRecords, ErrInvalidRecord, ErrDNSTemporary}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			rec, err := LookupRecord(context.Background(), r, tt.domain)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("LookupRecord: %v", err)
				}
				if rec.ID != tt.wantID {
					t.Errorf("ID = %q, want %q", rec.ID, tt.wantID)
				}
			} else {
				if rec != nil || err == nil {
					t.Fatalf("LookupRecord = %+v, %v; want error %v", rec, err, tt.wantErr)
				}
				for _, s := range sentinels {
					if got, want := errors.Is(err, s), s == tt.wantErr; got != want {
						t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
					}
				}
				var dnsErr *net.DNSError
				if got := errors.As(err, &dnsErr) && dnsErr.IsNotFound; got != tt.notFound {
					t.Errorf("wraps a not-found *net.DNSError: %v, want %v (err: %v)", got, tt.notFound, err)
				}
			}
			if tt.wantTCP && !slices.Contains(srv.queriedTCP(), "_mta-sts."+tt.domain+".") {
				t.Errorf("TCP queries %q, want one for %s", srv.queriedTCP(), tt.domain)
			}
			if tt.wantQuery != "" && !slices.Contains(srv.queried(), tt.wantQuery) {
				t.Errorf("queries %q, want one for %q", srv.queried(), tt.wantQuery)
			}
		})
	}
}

func TestLookupRecordSyntaxError(t *testing.T) {
	srv := startDNS(t, stsZone)
	_, err := LookupRecord(context.Background(), srv.resolver(), "malformed.example")
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *SyntaxError inside", err)
	}
	if se.Err != ErrInvalidRecord || se.Line != 1 {
		t.Errorf("SyntaxError = %+v, want ErrInvalidRecord on line 1", se)
	}
}

// TestLookupRecordTimeout: a server that never answers is a temporary
// failure, ended by the caller's deadline.
func TestLookupRecordTimeout(t *testing.T) {
	srv := startDNS(t, stsZone)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := LookupRecord(ctx, srv.resolver(), "silent.example")
	if !errors.Is(err, ErrDNSTemporary) || errors.Is(err, ErrNoRecord) {
		t.Fatalf("err = %v, want ErrDNSTemporary only", err)
	}
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsTimeout {
		t.Errorf("err = %v, want a *net.DNSError with IsTimeout", err)
	}
}

// TestLookupRecordInvalidDomain: a domain that is not a host name is a
// caller error; nothing is queried.
func TestLookupRecordInvalidDomain(t *testing.T) {
	srv := startDNS(t, stsZone)
	for _, domain := range []string{"", ".", "a..example", "exa mple.com", "example.com:25", "-x.example", "xn--zz.example"} {
		_, err := LookupRecord(context.Background(), srv.resolver(), domain)
		if err == nil {
			t.Errorf("LookupRecord(%q): no error", domain)
			continue
		}
		for _, s := range []error{ErrNoRecord, ErrMultipleRecords, ErrInvalidRecord, ErrDNSTemporary} {
			if errors.Is(err, s) {
				t.Errorf("LookupRecord(%q) = %v, matches %v", domain, err, s)
			}
		}
	}
	if q := srv.queried(); len(q) != 0 {
		t.Errorf("queries %q, want none", q)
	}
}

// fakeResolver answers from a map; it stands for a resolver that is not a
// *net.Resolver.
type fakeResolver map[string][]string

func (f fakeResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txts, ok := f[name]; ok {
		return txts, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func TestLookupRecordResolverInterface(t *testing.T) {
	r := fakeResolver{"_mta-sts.example.com.": {"v=STSv1; id=abc; ext=1"}}
	rec, err := LookupRecord(context.Background(), r, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := &Record{ID: "abc", Extensions: []Extension{{Name: "ext", Value: "1"}}}
	if !reflect.DeepEqual(rec, want) {
		t.Errorf("record = %+v, want %+v", rec, want)
	}
	if _, err := LookupRecord(context.Background(), r, "example.net"); !errors.Is(err, ErrNoRecord) {
		t.Errorf("err = %v, want ErrNoRecord", err)
	}
	// An empty answer without error is no record, too.
	r["_mta-sts.example.org."] = nil
	if _, err := LookupRecord(context.Background(), r, "example.org"); !errors.Is(err, ErrNoRecord) {
		t.Errorf("err = %v, want ErrNoRecord", err)
	}
}

// recordingResolver answers every name with the same TXT records and
// remembers the names asked for.
type recordingResolver struct {
	txts  []string
	names []string
}

func (r *recordingResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	r.names = append(r.names, name)
	return r.txts, nil
}

// FuzzLookupRecord: whatever the domain and the TXT records, LookupRecord
// queries a well-formed absolute A-label name or nothing, and returns either
// a record that survives a round trip through String and ParseRecord, or
// an error matching exactly one sentinel.
func FuzzLookupRecord(f *testing.F) {
	for _, seed := range [][3]string{
		{"example.com", "v=STSv1; id=20160831085700Z;", "v=spf1 -all"},
		{"EXAMPLE.COM.", "v=STSv1;id=abc", ""},
		{"bücher.example", "v=STSv1 ; id=a", "v=STSv1; id=b"},
		{"a..b", "v=STSv1; id=a; x=1=2", ""},
		{"xn--zz.example", "v=stsv1; id=a", " v=STSv1; id=a"},
		{"example.net", "v=STSv1; id=a; id=b", "v=STSv10; id=a"},
		{"-x.example", "v=STSv1; id=", "x=é"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, domain, txt1, txt2 string) {
		r := &recordingResolver{txts: []string{txt1, txt2}}
		rec, err := LookupRecord(context.Background(), r, domain)
		host, hostErr := toASCIIHost(domain)
		if hostErr != nil {
			if err == nil || len(r.names) != 0 {
				t.Fatalf("invalid domain %q: err %v, queries %q", domain, err, r.names)
			}
			return
		}
		if len(r.names) != 1 || r.names[0] != "_mta-sts."+host+"." {
			t.Fatalf("queries %q, want _mta-sts.%s.", r.names, host)
		}
		for i := 0; i < len(host); i++ {
			if c := host[i]; c >= 0x80 || ('A' <= c && c <= 'Z') {
				t.Fatalf("query name %q is not lower-case ASCII", host)
			}
		}
		if err != nil {
			n := 0
			for _, s := range []error{ErrNoRecord, ErrMultipleRecords, ErrInvalidRecord, ErrDNSTemporary} {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 || errors.Is(err, ErrDNSTemporary) {
				t.Fatalf("err %v matches %d sentinels", err, n)
			}
			return
		}
		again, err := ParseRecord(rec.String())
		if err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("round trip of %+v: %+v, %v", rec, again, err)
		}
	})
}
