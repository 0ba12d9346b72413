package policycache

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

func testStored(t testing.TB) *storedPolicy {
	p, err := mtasts.ParsePolicy([]byte("version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.example.net\nmax_age: 604800\nnote: café\n"))
	if err != nil {
		t.Fatal(err)
	}
	return &storedPolicy{
		Domain:  "example.com",
		ID:      "20260501T1000",
		Fetched: time.Date(2026, 5, 1, 10, 0, 0, 123456789, time.UTC),
		Policy:  p,
	}
}

func TestStoredRoundTrip(t *testing.T) {
	s := testStored(t)
	data := s.encode()
	want := "smtpsec-policycache 1\nsha256 "
	if !bytes.HasPrefix(data, []byte(want)) {
		t.Fatalf("encoding starts %q", data[:40])
	}
	if !bytes.Contains(data, []byte("\ndomain example.com\nid 20260501T1000\nfetched 2026-05-01T10:00:00.123456789Z\n\nversion: STSv1\r\nmode: enforce\r\n")) {
		t.Errorf("unexpected layout:\n%s", data)
	}
	got, err := decodeStored(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
	// A fetch time in another zone is stored in UTC and compares equal.
	s.Fetched = s.Fetched.In(time.FixedZone("X", 3600))
	if got, err := decodeStored(s.encode()); err != nil || !got.Fetched.Equal(s.Fetched) {
		t.Errorf("zoned time: %v, %v", got, err)
	}
}

func TestStoredCorruption(t *testing.T) {
	good := testStored(t).encode()
	flip := bytes.Clone(good)
	flip[len(flip)-5] ^= 1
	resum := func(body string) []byte { // a correctly checksummed, but wrong, body
		s := testStored(t).encode()
		i := bytes.Index(s, []byte("\ndomain ")) + 1
		out := append([]byte(nil), s[:i]...)
		out = append(out, body...)
		sum := entryChecksum([]byte(body))
		copy(out[len(entryMagic)+len(entrySumTag):], sum)
		return out
	}
	tests := map[string][]byte{
		"empty":            nil,
		"truncated":        good[:len(good)-1],
		"truncated header": good[:30],
		"one bit flipped":  flip,
		"other version":    bytes.Replace(good, []byte("policycache 1"), []byte("policycache 2"), 1),
		"bad checksum hex": bytes.Replace(good, []byte("sha256 "), []byte("sha256 zz"), 1)[:len(good)],
		"missing policy":   resum("domain example.com\nid 1\nfetched 2026-05-01T10:00:00Z\n"),
		"invalid policy":   resum("domain example.com\nid 1\nfetched 2026-05-01T10:00:00Z\n\nversion: STSv1\r\n"),
		"bad domain":       resum("domain Example.com\nid 1\nfetched 2026-05-01T10:00:00Z\n\n" + enforceText),
		"bad id":           resum("domain example.com\nid a-b\nfetched 2026-05-01T10:00:00Z\n\n" + enforceText),
		"bad time":         resum("domain example.com\nid 1\nfetched yesterday\n\n" + enforceText),
		"extra header":     resum("domain example.com\nid 1\nfetched 2026-05-01T10:00:00Z\nx y\n\n" + enforceText),
		"fields reordered": resum("id 1\ndomain example.com\nfetched 2026-05-01T10:00:00Z\n\n" + enforceText),
	}
	for name, data := range tests {
		if _, err := decodeStored(data); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: err = %v, want errCorrupt", name, err)
		}
	}
	// The helper itself makes valid entries.
	if _, err := decodeStored(resum("domain example.com\nid 1\nfetched 2026-05-01T10:00:00Z\n\n" + enforceText)); err != nil {
		t.Errorf("resum helper: %v", err)
	}
}

const enforceText = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmax_age: 86400\r\n"

// FuzzDecodeStored: arbitrary bytes never panic, and whatever decodes
// encodes back to bytes that decode to the same entry.
func FuzzDecodeStored(f *testing.F) {
	good := testStored(f).encode()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(entryMagic))
	f.Add([]byte(strings.Replace(string(good), "enforce", "testing", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeStored(data)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("error %v does not match errCorrupt", err)
			}
			return
		}
		checkStoredRoundTrip(t, s)
	})
}

// FuzzSealedBody checks the parser behind the checksum: any body, once
// checksummed, either decodes to an entry that round-trips or is refused.
func FuzzSealedBody(f *testing.F) {
	f.Add("domain example.com\nid 1\nfetched 2026-05-01T10:00:00Z\n\n" + enforceText)
	f.Add("domain example.com\nid 1\nfetched 2026-05-01T10:00:00+02:00\n\nversion: STSv1\nmode: none\nmax_age: 0\n")
	// Year 0 at +01:00 is year -1 in UTC, which RFC 3339 cannot write.
	f.Add("domain example.com\nid 1\nfetched 0000-01-01T00:00:00+01:00\n\nversion: STSv1\nmode: none\nmax_age: 0\n")
	f.Add("domain example.com\nid 1\nfetched 9999-12-31T23:00:00-01:00\n\nversion: STSv1\nmode: none\nmax_age: 0\n")
	f.Fuzz(func(t *testing.T, body string) {
		data := append([]byte(entryMagic+entrySumTag), entryChecksum([]byte(body))...)
		data = append(data, '\n')
		data = append(data, body...)
		s, err := decodeStored(data)
		if err != nil {
			return
		}
		checkStoredRoundTrip(t, s)
	})
}

// checkStoredRoundTrip checks that s, a decoded entry, encodes to bytes
// that decode to the same entry.
func checkStoredRoundTrip(t *testing.T, s *storedPolicy) {
	t.Helper()
	again, err := decodeStored(s.encode())
	if err != nil {
		t.Fatalf("re-encoded entry does not decode: %v", err)
	}
	if again.Domain != s.Domain || again.ID != s.ID || !again.Fetched.Equal(s.Fetched) || !reflect.DeepEqual(again.Policy, s.Policy) {
		t.Fatalf("round trip changed the entry:\n%+v\n%+v", s, again)
	}
}
