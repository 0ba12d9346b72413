package main

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// The chart's geometry, in SVG user units.
const (
	barWidth    = 16
	chartHeight = 100
	chartTop    = 4
	labelHeight = 16
)

// dashboardView is what the template renders.
type dashboardView struct {
	*summary
	Now     string
	Domains []domainView
}

type domainView struct {
	domainSummary
	Anchor   string
	Bars     []bar
	Width    int
	Height   int
	MaxDaily int64
	Labels   []label
}

// bar is one day of the chart: a failed segment on top of a successful
// one, heights proportional to the day's sessions.
type bar struct {
	X, Width           int
	OKY, OKHeight      int
	FailY, FailHeight  int
	Day                string
	Successful, Failed int64
}

type label struct {
	X    int
	Y    int
	Text string
}

// marshalSummary is the JSON of GET /api/summary.
func marshalSummary(s *summary) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	return append(b, '\n'), err
}

// renderDashboard writes the HTML page of s. html/template escapes every
// string taken from reports, in text, attributes and the SVG alike.
func renderDashboard(w io.Writer, s *summary, now time.Time) error {
	v := dashboardView{summary: s, Now: now.UTC().Format(time.RFC3339)}
	for i, d := range s.Domains {
		v.Domains = append(v.Domains, chartView(d, i))
	}
	return dashboardTemplate.Execute(w, v)
}

// chartView lays out the chart of d.
func chartView(d domainSummary, i int) domainView {
	v := domainView{domainSummary: d, Anchor: fmt.Sprintf("d%d", i), Width: len(d.Chart) * barWidth, Height: chartTop + chartHeight + labelHeight}
	for _, c := range d.Chart {
		v.MaxDaily = max(v.MaxDaily, addSat(c.Successful, c.Failed))
	}
	scale := func(n int64) int {
		if v.MaxDaily == 0 || n == 0 {
			return 0
		}
		return max(1, int(float64(n)*chartHeight/float64(v.MaxDaily)))
	}
	base := chartTop + chartHeight
	for j, c := range d.Chart {
		b := bar{X: j*barWidth + 1, Width: barWidth - 2, Day: c.Day, Successful: c.Successful, Failed: c.Failed}
		b.OKHeight = scale(c.Successful)
		b.FailHeight = scale(c.Failed)
		if b.OKHeight+b.FailHeight > chartHeight {
			b.OKHeight = chartHeight - b.FailHeight
		}
		b.OKY = base - b.OKHeight
		b.FailY = b.OKY - b.FailHeight
		v.Bars = append(v.Bars, b)
		if j%7 == 0 || j == len(d.Chart)-1 {
			v.Labels = append(v.Labels, label{X: j * barWidth, Y: base + labelHeight - 3, Text: c.Day[5:]})
		}
	}
	return v
}

// countsTable is one table of counts of the dashboard.
type countsTable struct {
	Class, Title string
	Rows         []count
}

var dashboardTemplate = template.Must(template.New("dashboard").Funcs(template.FuncMap{
	"statusClass": func(s string) string { return strings.ReplaceAll(s, " ", "-") },
	"table":       func(class, title string, rows []count) countsTable { return countsTable{class, title, rows} },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>TLS-RPT reports</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
section.domain { border-top: 1px solid #ccc; padding-top: .5em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { text-align: left; padding: 2px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { font-size: 1.1em; }
.status-READY { color: #1a7f37; } .status-NOT-READY { color: #b42318; }
.status-ENFORCED { color: #175cd3; } .status-UNKNOWN-MODE, .status-NO-POLICY { color: #8a6100; }
svg rect.ok { fill: #4caf50; } svg rect.failed { fill: #e53935; } svg text { font-size: 10px; fill: #666; }
.tables { display: flex; flex-wrap: wrap; gap: 2em; }
</style>
</head>
<body>
<h1>TLS-RPT reports</h1>
<p id="store">{{.Reports}} reports stored ({{.Bytes}} bytes){{if .Unreadable}}; {{.Unreadable}} stored files could not be read{{end}}. Generated {{.Now}}.
Reports over HTTPS are not authenticated (RFC 8460 §5.4): each verdict shows the reporters it rests on.</p>
{{if not .Domains}}<p id="empty">No reports yet.</p>{{end}}
{{if .DomainsNotShown}}<p id="more-domains">{{.DomainsNotShown}} more domains not shown (the fewest sessions).</p>{{end}}
<nav><ul>{{range .Domains}}<li><a href="#{{.Anchor}}">{{.Domain}}</a>: {{.Verdict.Status}}</li>{{end}}</ul></nav>
{{range .Domains}}
<section class="domain" id="{{.Anchor}}" data-domain="{{.Domain}}">
<h2>{{.Domain}}</h2>
<p class="verdict status-{{.Verdict.Status | statusClass}}"><strong class="status">{{.Verdict.Status}}</strong>: {{.Verdict.Reason}}</p>
<h3>Last 30 days</h3>
<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="successful and failed sessions per day">
{{range .Bars}}<g class="day" data-day="{{.Day}}"><title>{{.Day}}: {{.Successful}} successful, {{.Failed}} failed</title><rect class="ok" x="{{.X}}" y="{{.OKY}}" width="{{.Width}}" height="{{.OKHeight}}"/><rect class="failed" x="{{.X}}" y="{{.FailY}}" width="{{.Width}}" height="{{.FailHeight}}"/></g>
{{end}}{{range .Labels}}<text x="{{.X}}" y="{{.Y}}">{{.Text}}</text>{{end}}
</svg>
<p class="totals">{{.Sessions}} sessions, {{.Failed}} failed, over the retained reports (most in a day in the chart: {{.MaxDaily}}).</p>
<div class="tables">
{{template "counts" (table "by-result" "Failures by result type" .ByResult)}}
{{template "counts" (table "by-sender" "Failures by sending MTA" .BySender)}}
{{template "counts" (table "by-mx" "Failures by MX host" .ByMX)}}
</div>
<h3>Evidence</h3>
<table class="modes"><tr><th>policy mode</th><th>successful</th><th>failed</th></tr>
{{range .Verdict.Modes}}<tr><td>{{.Mode}}</td><td class="n">{{.Successful}}</td><td class="n">{{.Failed}}</td></tr>{{end}}
</table>
<table class="reporters"><tr><th>reporter (organization-name)</th><th>mode</th><th>reports</th><th>successful</th><th>failed</th><th>share of sessions</th></tr>
{{range .Verdict.Reporters}}<tr><td>{{.Name}}</td><td>{{.Mode}}</td><td class="n">{{.Reports}}</td><td class="n">{{.Successful}}</td><td class="n">{{.Failed}}</td><td class="n">{{.Percent}}%</td></tr>{{end}}
</table>
{{if .Verdict.Blocking}}<table class="blocking"><tr><th>MX host</th><th>sending MTA</th><th>result type</th><th>sessions</th></tr>
{{range .Verdict.Blocking}}<tr><td>{{.MX}}</td><td>{{.SendingMTA}}</td><td>{{.ResultType}}</td><td class="n">{{.Sessions}}</td></tr>{{end}}
</table>{{if .Verdict.BlockingNotShown}}<p>and {{.Verdict.BlockingNotShown}} more failure groups</p>{{end}}{{end}}
{{if .Verdict.WithoutDetails}}<p>{{.Verdict.WithoutDetails}} failed sessions come without details.</p>{{end}}
</section>
{{end}}
<h2>Recent reports</h2>
<table id="recent"><tr><th>received</th><th>reporter</th><th>report-id</th><th>domains</th><th>period</th><th>successful</th><th>failed</th><th>findings (RFC 8460 §4.4)</th></tr>
{{range .Recent}}<tr class="report"><td>{{.Received.Format "2006-01-02 15:04:05"}}</td><td>{{.Organization}}</td><td>{{.ReportID}}</td><td>{{range $i, $d := .Domains}}{{if $i}}, {{end}}{{$d}}{{end}}</td><td>{{.First}}{{if ne .First .Last}} to {{.Last}}{{end}}</td><td class="n">{{.Successful}}</td><td class="n">{{.Failed}}</td><td>{{if .Findings}}<ul class="findings">{{range .Findings}}<li>{{.}}</li>{{end}}</ul>{{else}}none{{end}}</td></tr>
{{end}}</table>
</body>
</html>
{{define "counts"}}<table class="{{.Class}}"><caption>{{.Title}}</caption>
{{range .Rows}}<tr><td>{{.Name}}</td><td class="n">{{.Sessions}}</td></tr>{{else}}<tr><td>none</td></tr>{{end}}
</table>{{end}}`))
