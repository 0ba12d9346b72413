package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func parseHTML(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// findAll returns the elements named tag under n, in document order.
func findAll(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.Data == tag {
			out = append(out, d)
		}
	}
	return out
}

// withClass returns the elements named tag under n whose class list has
// class.
func withClass(n *html.Node, tag, class string) []*html.Node {
	var out []*html.Node
	for _, e := range findAll(n, tag) {
		if slices.Contains(strings.Fields(attr(e, "class")), class) {
			out = append(out, e)
		}
	}
	return out
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// textOf returns the text under n.
func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

// TestDashboard checks the page's structure with an HTML parser: per
// domain a section with the verdict, a 30-day SVG chart, the failure
// tables and the evidence; the recent reports with their findings; no
// script and no external asset.
func TestDashboard(t *testing.T) {
	s := server(t, "-data", t.TempDir(), "-retention-days", "5000", "testdata/rfc8460-example-fixed.json", "testdata/mailru.json")
	for _, org := range []string{"Org A", "Org B"} {
		r := failingReport("f-"+org, org, 2)
		r.OrganizationName = org
		if code, text := post(t, s.client, s.base+"/", r); code != http.StatusOK {
			t.Fatalf("POST: %d %q", code, text)
		}
	}
	resp, err := s.client.Get(s.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	doc := parseHTML(t, get(t, s.client, s.base+"/"))

	if n := len(findAll(doc, "script")); n != 0 {
		t.Errorf("%d script elements", n)
	}
	for d := range doc.Descendants() {
		if d.Type != html.ElementNode {
			continue
		}
		if d.Data == "link" || d.Data == "img" || d.Data == "iframe" {
			t.Errorf("external asset element <%s>", d.Data)
		}
		if src := attr(d, "src"); src != "" {
			t.Errorf("<%s src=%q>", d.Data, src)
		}
		if href := attr(d, "href"); href != "" && !strings.HasPrefix(href, "#") {
			t.Errorf("<%s href=%q>", d.Data, href)
		}
	}

	sections := withClass(doc, "section", "domain")
	var domains []string
	for _, sec := range sections {
		domains = append(domains, attr(sec, "data-domain"))
	}
	if want := []string{"company-y.example", "example.com", "ready.example"}; !slices.Equal(domains, want) {
		t.Fatalf("domain sections %q, want %q", domains, want)
	}
	wantStatus := map[string]string{"company-y.example": "NOT READY", "example.com": "UNKNOWN MODE", "ready.example": "NOT READY"}
	for _, sec := range sections {
		domain := attr(sec, "data-domain")
		verdicts := withClass(sec, "p", "verdict")
		if len(verdicts) != 1 {
			t.Fatalf("%s: %d verdicts", domain, len(verdicts))
		}
		if got := textOf(withClass(verdicts[0], "strong", "status")[0]); got != wantStatus[domain] {
			t.Errorf("%s: verdict %q, want %q", domain, got, wantStatus[domain])
		}
		charts := withClass(sec, "svg", "chart")
		if len(charts) != 1 {
			t.Fatalf("%s: %d charts", domain, len(charts))
		}
		bars := withClass(charts[0], "g", "day")
		if len(bars) != chartDays {
			t.Errorf("%s: %d days in the chart, want %d", domain, len(bars), chartDays)
		}
		for _, b := range bars {
			if len(findAll(b, "rect")) != 2 || len(findAll(b, "title")) != 1 {
				t.Errorf("%s: day %s has no two bars and a title", domain, attr(b, "data-day"))
			}
		}
		for _, class := range []string{"by-result", "by-sender", "by-mx", "modes", "reporters"} {
			if len(withClass(sec, "table", class)) != 1 {
				t.Errorf("%s: no table %s", domain, class)
			}
		}
	}
	// ready.example: two reporters' failures on 2026-03-01, in the chart
	// and the tables.
	ready := sections[2]
	var day *html.Node
	for _, g := range withClass(ready, "g", "day") {
		if attr(g, "data-day") == "2026-03-01" {
			day = g
		}
	}
	if day == nil || textOf(findAll(day, "title")[0]) != "2026-03-01: 200 successful, 4 failed" {
		t.Errorf("chart day 2026-03-01: %v", day)
	}
	for _, r := range findAll(day, "rect") {
		if attr(r, "height") == "0" {
			t.Errorf("a bar of 2026-03-01 has height 0: %v", r.Attr)
		}
	}
	if got := textOf(withClass(ready, "table", "by-mx")[0]); !strings.Contains(got, "mx.ready.example4") {
		t.Errorf("ready.example by MX: %q", got)
	}
	if got := textOf(withClass(ready, "table", "reporters")[0]); !strings.Contains(got, "Org A") || !strings.Contains(got, "50%") {
		t.Errorf("reporters: %q", got)
	}
	if got := textOf(withClass(ready, "table", "blocking")[0]); !strings.Contains(got, "mx.ready.example192.0.2.7certificate-expired4") {
		t.Errorf("blocking: %q", got)
	}
	// The recent reports, with Mail.ru's findings.
	rows := withClass(doc, "tr", "report")
	if len(rows) != 4 {
		t.Errorf("%d recent reports, want 4", len(rows))
	}
	found := false
	for _, row := range rows {
		if strings.Contains(textOf(row), "Mail.ru") {
			lis := findAll(withClass(row, "ul", "findings")[0], "li")
			found = len(lis) == 4 && strings.Contains(textOf(lis[0]), "policy-string: missing")
		}
	}
	if !found {
		t.Errorf("the Mail.ru report's findings are not listed")
	}

	// GET /api/summary says the same.
	var sum summary
	if err := json.Unmarshal([]byte(get(t, s.client, s.base+"/api/summary")), &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Domains) != 3 || sum.Reports != 4 {
		t.Fatalf("summary: %d domains, %d reports", len(sum.Domains), sum.Reports)
	}
	for _, d := range sum.Domains {
		if d.Verdict.Status != wantStatus[d.Domain] || len(d.Chart) != chartDays {
			t.Errorf("%s: %s, %d days", d.Domain, d.Verdict.Status, len(d.Chart))
		}
	}
}
