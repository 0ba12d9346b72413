// Package tlsrpt implements SMTP TLS Reporting (RFC 8460): the TXT record a
// domain publishes at _smtp._tls.<domain>, the JSON report format, and the
// helpers a sending MTA needs to record failures and deliver reports.
package tlsrpt
