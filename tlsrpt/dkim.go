package tlsrpt

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/emersion/go-msgauth/dkim"
)

// A MessageSigner DKIM-signs report emails (RFC 8460 §5.3: a report sent
// by email MUST carry a DKIM signature of the reporting domain, without
// the l= tag). DKIMSigner is one; an MTA with a signer of its own (a
// signing service, a milter) wraps it in a MessageSigner and sets it as
// Sender.DKIM.
type MessageSigner interface {
	// SignMessage returns the header field to put on top of data, an RFC
	// 5322 message with CRLF line endings: "DKIM-Signature: ...\r\n",
	// possibly folded, possibly several fields. It must not change data.
	SignMessage(ctx context.Context, data []byte) (string, error)
}

// dkimHeaders are the header fields a DKIMSigner signs (RFC 6376 §5.4):
// those of a report email (see Sender.Message).
func dkimHeaders() []string {
	return []string{
		"From", "From", "To", "Subject", "Subject", "Date", "Message-ID",
		"TLS-Report-Domain", "TLS-Report-Domain", "TLS-Report-Submitter", "TLS-Report-Submitter",
		"TLS-Required", "MIME-Version", "Content-Type",
	}
}

// A DKIMSigner signs report emails with a DKIM key (RFC 6376) through
// github.com/emersion/go-msgauth: RSA-SHA256 with an RSA key of at least
// 1024 bits (2048 recommended) or Ed25519-SHA256 (RFC 8463), relaxed/relaxed
// canonicalization, without l= (RFC 8460 §5.3). It signs the header fields
// of a report email: From, To, Subject, Date, Message-ID,
// TLS-Report-Domain, TLS-Report-Submitter, TLS-Required, MIME-Version and
// Content-Type, with From, Subject and the TLS-Report-* fields listed twice
// in h= ("oversigned"), so that a second copy added on the way breaks the
// signature.
// Key may be any crypto.Signer of such a key, such as one backed by an HSM.
//
// Publish the public key at <Selector>._domainkey.<Domain> as the TXT
// record KeyRecord returns. Domain should be the domain of Sender.From,
// so that the signature also aligns for DMARC. A DKIMSigner is safe for
// concurrent use.
type DKIMSigner struct {
	// Domain is the signing domain (d=), in A-labels.
	Domain string
	// Selector is the selector (s=) of the key.
	Selector string
	// Key signs: an *rsa.PrivateKey, an ed25519.PrivateKey, or another
	// crypto.Signer whose Public is an *rsa.PublicKey or an
	// ed25519.PublicKey.
	Key crypto.Signer
}

// ErrDKIMKey is matched by the errors of a DKIMSigner whose Key is not
// usable: nil, of another type, or an RSA key shorter than 1024 bits
// (RFC 8301 §3.2).
var ErrDKIMKey = errors.New("tlsrpt: unusable DKIM key")

// SignMessage returns the DKIM-Signature header field of data, a report
// email as Sender.Message builds it.
func (s *DKIMSigner) SignMessage(ctx context.Context, data []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if _, err := s.keyType(); err != nil {
		return "", err
	}
	if !isHostName(normalHost(s.Domain)) {
		return "", fmt.Errorf("tlsrpt: DKIM domain %q is not a domain name in A-labels", s.Domain)
	}
	sg, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 normalHost(s.Domain),
		Selector:               s.Selector,
		Signer:                 s.Key,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             dkimHeaders(),
	})
	if err != nil {
		return "", fmt.Errorf("tlsrpt: DKIM: %w", err)
	}
	if _, err := sg.Write(data); err != nil {
		sg.Close()
		return "", fmt.Errorf("tlsrpt: DKIM: %w", err)
	}
	if err := sg.Close(); err != nil {
		return "", fmt.Errorf("tlsrpt: DKIM: %w", err)
	}
	return sg.Signature(), nil
}

// KeyRecord returns the text of the DKIM key record to publish as TXT at
// <Selector>._domainkey.<Domain> (RFC 6376 §3.6.1): "v=DKIM1; k=rsa; p=..."
// with the public key in SubjectPublicKeyInfo form, or "k=ed25519" with the
// raw 32 bytes (RFC 8463). With tlsrptOnly, the record has "s=tlsrpt",
// the service type RFC 8460 registers, restricting the key to TLS reports;
// dkimpy's strict RFC 8460 mode requires it, but verifiers that know only
// the email service refuse it (go-msgauth v0.7.0 among them), so publish
// the record without it unless every receiver is known to accept it.
func (s *DKIMSigner) KeyRecord(tlsrptOnly bool) (string, error) {
	kind, err := s.keyType()
	if err != nil {
		return "", err
	}
	var raw []byte
	switch pub := s.Key.Public().(type) {
	case ed25519.PublicKey:
		raw = pub
	default:
		if raw, err = x509.MarshalPKIXPublicKey(pub); err != nil {
			return "", fmt.Errorf("%w: %w", ErrDKIMKey, err)
		}
	}
	var b bytes.Buffer
	b.WriteString("v=DKIM1; k=" + kind)
	if tlsrptOnly {
		b.WriteString("; s=tlsrpt")
	}
	b.WriteString("; p=" + base64.StdEncoding.EncodeToString(raw))
	return b.String(), nil
}

// keyType returns the k= of s.Key: "rsa" or "ed25519".
func (s *DKIMSigner) keyType() (string, error) {
	if s.Key == nil {
		return "", fmt.Errorf("%w: DKIMSigner.Key is nil", ErrDKIMKey)
	}
	switch pub := s.Key.Public().(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 1024 {
			return "", fmt.Errorf("%w: RSA key of %d bits, fewer than 1024", ErrDKIMKey, pub.N.BitLen())
		}
		return "rsa", nil
	case ed25519.PublicKey:
		return "ed25519", nil
	default:
		return "", fmt.Errorf("%w: key of type %T, not RSA or Ed25519", ErrDKIMKey, pub)
	}
}
