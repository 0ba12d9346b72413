module github.com/smtpsec/smtpsec

go 1.25.0

require (
	github.com/emersion/go-msgauth v0.7.0
	github.com/miekg/dns v1.1.73
	golang.org/x/crypto v0.54.0
	golang.org/x/net v0.57.0
)

require (
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)
