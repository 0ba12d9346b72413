package mtasts_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/smtpsec/smtpsec/mtasts"
)

// policyHost starts an HTTPS server on loopback that presents a
// certificate for the given names and serves h, and returns a client that
// reaches it as https://mta-sts.example.com/ and trusts its CA.
func policyHost(h http.Handler, names ...string) (*http.Client, func()) {
	pki := newExamplePKI()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are expected here
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.certificate(names...)}}
	srv.StartTLS()
	return pki.client(srv.Listener.Addr().String()), srv.Close
}

func servePolicy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mail.example.com\r\nmax_age: 604800\r\n")
}

func ExampleFetch() {
	// The policy host of example.com. In production the client is nil or
	// one of your own, and DNS and the system roots do the rest.
	client, stop := policyHost(http.HandlerFunc(servePolicy), "mta-sts.example.com")
	defer stop()

	p, err := mtasts.Fetch(context.Background(), client, "example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Mode, p.MX, p.MaxAge)
	fmt.Println(p.Match("mx7.mail.example.com"))
	// Output:
	// enforce [mx1.example.com *.mail.example.com] 168h0m0s
	// true
}

// Each failure says which rule of RFC 8461 §3.3 was broken; a sender maps
// it onto a TLS-RPT result type (RFC 8460 §4.3.2.1).
func ExampleFetchError() {
	resultType := func(err error) string {
		var fe *mtasts.FetchError
		switch {
		case !errors.As(err, &fe):
			return "no TLS-RPT result (not a fetch failure)"
		case fe.Reason == mtasts.FetchWebPKI:
			return "sts-webpki-invalid"
		case fe.Reason == mtasts.FetchPolicyInvalid:
			return "sts-policy-invalid"
		default:
			return "sts-policy-fetch-error"
		}
	}
	hosts := []struct {
		handler http.HandlerFunc
		names   []string
	}{
		// Moved the policy: redirects are not followed.
		{func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://www.example.com/mta-sts.txt", http.StatusMovedPermanently)
		}, []string{"mta-sts.example.com"}},
		// An HTML page instead of the policy.
		{func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>Welcome!</html>")
		}, []string{"mta-sts.example.com"}},
		// A policy without max_age.
		{func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "version: STSv1\nmode: enforce\nmx: mx1.example.com\n")
		}, []string{"mta-sts.example.com"}},
		// The web server's certificate, not one for mta-sts.example.com.
		{servePolicy, []string{"example.com", "www.example.com"}},
	}
	for _, h := range hosts {
		client, stop := policyHost(h.handler, h.names...)
		_, err := mtasts.Fetch(context.Background(), client, "example.com")
		stop()
		var fe *mtasts.FetchError
		if errors.As(err, &fe) {
			fmt.Printf("%s (HTTP %d): %s\n", fe.Reason, fe.StatusCode, resultType(err))
		}
	}
	// Output:
	// HTTP status (HTTP 301): sts-policy-fetch-error
	// media type (HTTP 200): sts-policy-fetch-error
	// invalid policy (HTTP 200): sts-policy-invalid
	// certificate not valid (HTTP 0): sts-webpki-invalid
}

// FetchRaw returns the body for a tool that shows people what is wrong
// with their policy, rather than only whether it is valid.
func ExampleFetchRaw() {
	client, stop := policyHost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "version: STSv1\nmode: enforce\nmx: mx1.example.com.\nmax_age: 86400\n\n")
	}), "mta-sts.example.com")
	defer stop()

	body, err := mtasts.FetchRaw(context.Background(), client, "example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	_, diags, err := mtasts.DiagnosePolicy(body)
	for _, d := range diags {
		fmt.Println(d)
	}
	fmt.Println(err)
	// Output:
	// 3:20: warning: trailing dot after the mx host name (remove the trailing dot)
	// 5:1: warning: blank line at the end of the policy (remove the blank lines after the last field)
	// <nil>
}
