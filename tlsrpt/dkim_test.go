package tlsrpt

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/mail"
	"net/textproto"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// verifyPy is a verifier independent of go-msgauth: dkimpy (Debian's
// python3-dkim) reads messages on stdin, each after a line "<record
// length> <message length>" and the key record to use instead of DNS, and
// prints "ok" or "fail" for each. tlsrpt='strict' is dkimpy's RFC 8460
// mode: no l=, and the key must be of service type tlsrpt.
const verifyPy = `
import dkim, sys
data = sys.stdin.buffer.read()
out = []
while data:
    head, data = data.split(b"\n", 1)
    rl, ml = map(int, head.split())
    record, msg, data = data[:rl], data[rl:rl+ml], data[rl+ml:]
    try:
        ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: record, tlsrpt="strict")
    except Exception:
        ok = False
    out.append("ok" if ok else "fail")
print(" ".join(out))
`

// dkimpyVerify returns dkimpy's verdicts on msgs, each with its record.
func dkimpyVerify(t *testing.T, py string, records []string, msgs [][]byte) []string {
	var in bytes.Buffer
	for i, m := range msgs {
		fmt.Fprintf(&in, "%d %d\n%s%s", len(records[i]), len(m), records[i], m)
	}
	cmd := exec.Command(py, "-c", verifyPy)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, stderr.String())
	}
	return strings.Fields(string(out))
}

// dkimpy returns a python3 that has the dkim module (and nacl, for
// Ed25519), or "" when there is none outside CI; in CI it must be there
// (.ci/run installs python3-dkim).
func dkimpy(t *testing.T) string {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import dkim, nacl").Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("python3-dkim is not installed; .ci/run installs it")
	}
	return ""
}

func dkimKeys(t *testing.T) map[string]crypto.Signer {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]crypto.Signer{"rsa-sha256": rk, "ed25519-sha256": ek}
}

// TestDKIMSign: a report email signed with RSA-SHA256 and Ed25519-SHA256
// verifies with go-msgauth and with dkimpy, with the tags RFC 8460 §5.3
// asks for; a change of one byte to the body or to the TLS-Report-Domain
// header fails both.
func TestDKIMSign(t *testing.T) {
	py := dkimpy(t)
	rep := collectedReport(t)
	// What dkimpy is to verify, all in one process (python starts slowly).
	var pyNames, pyRecords, pyWant []string
	var pyMsgs [][]byte
	pyCase := func(name, record string, data []byte, want string) {
		pyNames, pyRecords, pyMsgs, pyWant = append(pyNames, name), append(pyRecords, record), append(pyMsgs, data), append(pyWant, want)
	}
	for alg, key := range dkimKeys(t) {
		t.Run(alg, func(t *testing.T) {
			signer := &DKIMSigner{Domain: "Sender.Example.", Selector: "tlsrpt2024", Key: key}
			s := &Sender{From: "tlsrpt@sender.example", DKIM: signer}
			m, err := s.Message(context.Background(), rep, []string{"tlsrpt@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			// go-msgauth accepts keys of the email service only, dkimpy's
			// strict mode of the tlsrpt service only.
			record, err := signer.KeyRecord(false)
			if err != nil {
				t.Fatal(err)
			}
			tlsrptRecord, err := signer.KeyRecord(true)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(tlsrptRecord, "; s=tlsrpt;") || strings.Contains(record, "; s=") {
				t.Errorf("records %q, %q", record, tlsrptRecord)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				t.Fatal(err)
			}
			sig := msg.Header.Get("DKIM-Signature")
			tags := map[string]string{}
			for f := range strings.SplitSeq(sig, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
				tags[k] = strings.Join(strings.Fields(v), "")
			}
			if tags["a"] != alg || tags["c"] != "relaxed/relaxed" || tags["d"] != "sender.example" || tags["s"] != "tlsrpt2024" {
				t.Errorf("signature tags %v", tags)
			}
			if _, ok := tags["l"]; ok {
				t.Error("l= present (RFC 8460 §5.3 forbids it)")
			}
			signed := strings.ToLower(":" + tags["h"] + ":")
			for _, h := range []string{"from", "subject", "tls-report-domain", "tls-report-submitter", "tls-required", "date", "message-id", "content-type"} {
				if !strings.Contains(signed, ":"+h+":") {
					t.Errorf("h=%s does not sign %s", tags["h"], h)
				}
			}
			verify := func(data []byte) error {
				vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{
					LookupTXT: func(name string) ([]string, error) {
						if name != "tlsrpt2024._domainkey.sender.example" {
							return nil, errors.New("no such key: " + name)
						}
						return []string{record}, nil
					},
				})
				switch {
				case err != nil:
					return err
				case len(vs) != 1:
					return errors.New("not one signature")
				}
				return vs[0].Err
			}
			if err := verify(m.Data); err != nil {
				t.Fatalf("the signed message does not verify with go-msgauth: %v", err)
			}
			pyCase(alg+": the signed message", tlsrptRecord, m.Data, "ok")
			for name, change := range map[string]func([]byte) []byte{
				"a body byte": func(b []byte) []byte {
					i := bytes.LastIndex(b, []byte("\r\n--tlsrpt-")) - 5
					b[i] ^= 1 // a base64 character of the report
					return b
				},
				"the TLS-Report-Domain header": func(b []byte) []byte {
					return bytes.Replace(b, []byte("TLS-Report-Domain: example.com"), []byte("TLS-Report-Domain: example.con"), 1)
				},
				"a second TLS-Report-Domain header": func(b []byte) []byte {
					return append([]byte("TLS-Report-Domain: attacker.example\r\n"), b...)
				},
			} {
				data := change(bytes.Clone(m.Data))
				if bytes.Equal(data, m.Data) {
					t.Fatalf("%s: no change", name)
				}
				if verify(data) == nil {
					t.Errorf("changing %s: still verifies with go-msgauth", name)
				}
				pyCase(alg+": changing "+name, tlsrptRecord, data, "fail")
			}
		})
	}
	if py == "" {
		t.Log("python3-dkim is not installed (and CI is not set): verified with go-msgauth only")
		return
	}
	got := dkimpyVerify(t, py, pyRecords, pyMsgs)
	if len(got) != len(pyWant) {
		t.Fatalf("dkimpy said %q for %d messages", got, len(pyWant))
	}
	for i := range got {
		if got[i] != pyWant[i] {
			t.Errorf("dkimpy: %s: %s, want %s", pyNames[i], got[i], pyWant[i])
		}
	}
}

// TestDKIMKeyErrors: unusable keys are refused with ErrDKIMKey.
func TestDKIMKeyErrors(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	small := publicOnly{&rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), 1000), E: 65537}}
	for name, s := range map[string]*DKIMSigner{
		"nil key":      {Domain: "sender.example", Selector: "s"},
		"1001-bit RSA": {Domain: "sender.example", Selector: "s", Key: small},
		"ECDSA":        {Domain: "sender.example", Selector: "s", Key: ec},
	} {
		if _, err := s.SignMessage(context.Background(), []byte("From: a@b\r\n\r\n")); !errors.Is(err, ErrDKIMKey) {
			t.Errorf("%s: SignMessage = %v, want ErrDKIMKey", name, err)
		}
		if _, err := s.KeyRecord(false); !errors.Is(err, ErrDKIMKey) {
			t.Errorf("%s: KeyRecord = %v, want ErrDKIMKey", name, err)
		}
	}
	_, ek, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := (&DKIMSigner{Domain: "bad domain", Selector: "s", Key: ek}).SignMessage(context.Background(), []byte("From: a@b\r\n\r\n")); err == nil {
		t.Error("a domain with a space was accepted")
	}
}

// publicOnly is a crypto.Signer that cannot sign, for key checks.
type publicOnly struct{ pub crypto.PublicKey }

func (k publicOnly) Public() crypto.PublicKey { return k.pub }
func (k publicOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("cannot sign")
}

// TestIsReportMessage: report emails are recognised by their headers.
func TestIsReportMessage(t *testing.T) {
	m, err := (&Sender{From: "tlsrpt@sender.example"}).Message(context.Background(), collectedReport(t), []string{"tlsrpt@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	if !IsReportMessage(textproto.MIMEHeader(msg.Header)) {
		t.Error("a report email is not recognised")
	}
	if IsReportMessage(textproto.MIMEHeader{"Tls-Report-Domain": {"example.com"}}) {
		t.Error("a message without TLS-Report-Submitter is taken for a report")
	}
}
