package mtasts_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smtpsec/smtpsec/mtasts"
)

func ExampleParseRecord() {
	r, err := mtasts.ParseRecord("v=STSv1; id=20160831085700Z;")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.ID)

	_, err = mtasts.ParseRecord("v=STSv1; id=2016-08-31")
	fmt.Println(err)
	fmt.Println(errors.Is(err, mtasts.ErrInvalidRecord))
	// Output:
	// 20160831085700Z
	// mtasts: TXT record column 17: id may contain only letters and digits, not "-"
	// true
}

func ExampleRecord_String() {
	r := &mtasts.Record{ID: "20240101T000000"}
	fmt.Println(r)
	// Output:
	// v=STSv1; id=20240101T000000
}

func ExampleSelectRecord() {
	// All TXT records at _mta-sts.example.com, as net.Resolver.LookupTXT
	// returns them.
	txts := []string{"v=spf1 -all", "v=STSv1; id=20190101"}
	r, err := mtasts.SelectRecord(txts)
	fmt.Println(r.ID, err)

	_, err = mtasts.SelectRecord([]string{"v=STSv1; id=a", "v=STSv1; id=b"})
	fmt.Println(errors.Is(err, mtasts.ErrMultipleRecords))

	_, err = mtasts.SelectRecord([]string{"v=spf1 -all"})
	fmt.Println(errors.Is(err, mtasts.ErrNoRecord))
	// Output:
	// 20190101 <nil>
	// true
	// true
}

func ExampleParsePolicy() {
	// The example policy of RFC 8461 §3.2.
	body := []byte("version: STSv1\n" +
		"mode: enforce\n" +
		"mx: mail.example.com\n" +
		"mx: *.example.net\n" +
		"mx: backupmx.example.com\n" +
		"max_age: 604800\n")
	p, err := mtasts.ParsePolicy(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Mode, p.MaxAge, p.MX)
	// Output:
	// enforce 168h0m0s [mail.example.com *.example.net backupmx.example.com]
}

func ExampleParsePolicy_error() {
	body := []byte("version: STSv1\nmode: enforce\nmx: mail.example.com, backup.example.com\nmax_age: 604800\n")
	_, err := mtasts.ParsePolicy(body)
	fmt.Println(err)

	var se *mtasts.SyntaxError
	if errors.As(err, &se) {
		fmt.Println(se.Line, se.Column, errors.Is(err, mtasts.ErrInvalidPolicy))
	}
	// Output:
	// mtasts: policy line 3, column 21: mx: "," found; an mx field holds one host name (put each host name on its own mx line)
	// 3 21 true
}

func ExamplePolicy_MarshalText() {
	p := &mtasts.Policy{
		Mode:       mtasts.ModeTesting,
		MX:         []string{"mx1.example.com", "*.mail.example.com"},
		MaxAge:     7 * 24 * time.Hour,
		Extensions: []mtasts.Extension{{Name: "note", Value: "migrating"}},
	}
	text, err := p.MarshalText()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", text)
	// Output:
	// "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: *.mail.example.com\r\nmax_age: 604800\r\nnote: migrating\r\n"
}

func ExamplePolicy_String() {
	p := &mtasts.Policy{Mode: mtasts.ModeNone, MaxAge: 24 * time.Hour}
	// The canonical form ends lines with CRLF; shown here with LF.
	fmt.Print(strings.ReplaceAll(p.String(), "\r\n", "\n"))
	// Output:
	// version: STSv1
	// mode: none
	// max_age: 86400
}

func ExamplePolicy_Match() {
	p, err := mtasts.ParsePolicy([]byte("version: STSv1\nmode: enforce\nmx: *.mail.example.net\nmx: xn--bcher-kva.example\nmax_age: 604800\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, host := range []string{
		"MX7.Mail.Example.NET.", // case and the root dot do not matter
		"mail.example.net",      // "*." needs exactly one more label
		"a.b.mail.example.net",  // ... not two
		"bücher.example",        // U-labels are converted to A-labels
	} {
		fmt.Println(host, p.Match(host))
	}
	// Output:
	// MX7.Mail.Example.NET. true
	// mail.example.net false
	// a.b.mail.example.net false
	// bücher.example true
}

func ExampleParsePattern() {
	for _, s := range []string{"*.Bücher.example.", "mail.*.example.com"} {
		p, err := mtasts.ParsePattern(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(p)
	}
	// Output:
	// *.xn--bcher-kva.example
	// mtasts: invalid MTA-STS policy: mx pattern "mail.*.example.com": the wildcard "*" is allowed only as the whole left-most label, as in *.example.com
}

func ExamplePattern_Match() {
	p, err := mtasts.ParsePattern("*.example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Match("mail.example.com"), p.Match("example.com"), p.Match("a.b.example.com"))
	// Output:
	// true false false
}

func ExampleDiagnosePolicy() {
	// What a policy host might really serve: a byte order mark, a typo,
	// a trailing dot, a max_age above one year, a blank line at the end.
	body := []byte("\uFEFFversion: STSv1\r\n" +
		"mode: enforce\r\n" +
		"mx: mail.example.com.\r\n" +
		"Max_age: 86400\r\n" +
		"max_age: 40000000\r\n" +
		"\r\n")
	p, diags, err := mtasts.DiagnosePolicy(body)
	for _, d := range diags {
		fmt.Println(d)
	}
	fmt.Println(p.MX, p.MaxAge, err)

	_, err = mtasts.ParsePolicy(body)
	fmt.Println(err)
	// Output:
	// 1:1: warning: the file begins with a UTF-8 byte order mark (BOM) (save the file as UTF-8 without a BOM)
	// 3:21: warning: trailing dot after the mx host name (remove the trailing dot)
	// 4:1: warning: unknown field Max_age is ignored; did you mean max_age? (rename Max_age to max_age)
	// 5:10: warning: max_age 40000000 is above the maximum of 31557600 seconds (one year); 31557600 is used (set max_age to 31557600 or less)
	// 6:1: warning: blank line at the end of the policy (remove the blank lines after the last field)
	// [mail.example.com] 8766h0m0s <nil>
	// mtasts: policy line 1, column 1: the file begins with a UTF-8 byte order mark (BOM) (save the file as UTF-8 without a BOM)
}

func ExampleNewPolicy() {
	p, err := mtasts.NewPolicy(mtasts.ModeTesting, 7*24*time.Hour, "MX1.Bücher.example.", "*.mail.example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(strings.ReplaceAll(p.String(), "\r\n", "\n"))

	_, err = mtasts.NewPolicy(mtasts.ModeEnforce, 7*24*time.Hour)
	fmt.Println(err)
	// Output:
	// version: STSv1
	// mode: testing
	// mx: mx1.xn--bcher-kva.example
	// mx: *.mail.example.com
	// max_age: 604800
	// mtasts: invalid MTA-STS policy: mode enforce requires at least one mx pattern
}

func ExamplePolicy_Validate() {
	p := &mtasts.Policy{
		Mode:   mtasts.ModeEnforce,
		MX:     []string{"mäil.example.com"},
		MaxAge: 2 * 365 * 24 * time.Hour,
	}
	fmt.Println(p.Validate())
	// Output:
	// mtasts: invalid MTA-STS policy: max_age 17520h0m0s is above the maximum of 31557600 seconds (one year)
	// mtasts: invalid MTA-STS policy: mx[0] "mäil.example.com": the host name is written in U-labels; mx values must be A-labels (punycode) (write xn--mil-qla.example.com)
}

func ExamplePolicyID() {
	p, err := mtasts.NewPolicy(mtasts.ModeEnforce, 604800*time.Second, "mail.example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	r := &mtasts.Record{ID: mtasts.PolicyID(p)}
	fmt.Println(r)
	// Output:
	// v=STSv1; id=a5963b31a082635c6ec668171482b14f
}

func ExampleSyntaxError() {
	_, err := mtasts.ParsePolicy([]byte("version: STSv1\nmode: enforce\nnmx: mail.example.com\nmax_age: 604800\n"))
	var se *mtasts.SyntaxError
	if errors.As(err, &se) {
		fmt.Printf("line %d, column %d: %s\nfix: %s\n", se.Line, se.Column, se.Msg, se.Fix)
	}
	// Output:
	// line 3, column 1: unknown field nmx; did you mean mx? mode enforce requires at least one mx field
	// fix: rename nmx to mx
}

func ExamplePolicy_UnmarshalText() {
	var p mtasts.Policy
	err := p.UnmarshalText([]byte("version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n"))
	fmt.Println(p.Mode, p.MX, p.MaxAge, err)
	// Output:
	// testing [mx.example.com] 24h0m0s <nil>
}
