package redisresp

import (
	"errors"
	"strings"

	"github.com/smtpsec/smtpsec/internal/escape"
)

// Errors of the client; the errors of Do wrap them.
var (
	// ErrProtocol is a reply that breaks RESP2 or one of the limits.
	ErrProtocol = errors.New("redisresp: invalid reply")
	// ErrClosed is a Do on a closed Client.
	ErrClosed = errors.New("redisresp: client closed")
	// ErrNil is a nil bulk string or array where a value is needed.
	ErrNil = errors.New("redisresp: nil reply")
)

// ServerError is an error reply of the server ("-ERR ..."). The
// connection stays usable after one.
type ServerError struct {
	// Code is the first word of the reply ("ERR", "WRONGTYPE", "NOAUTH"),
	// or "" when it is not a short word of capital letters.
	Code string
	// Message is the reply, escaped and cut to a short prefix: safe to log.
	Message string
}

// Error returns the escaped message.
func (e *ServerError) Error() string { return "redisresp: server error: " + e.Message }

// newServerError makes the ServerError of the error line text.
func newServerError(text string) *ServerError {
	code, _, _ := strings.Cut(text, " ")
	if len(code) > 32 || strings.TrimLeft(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		code = ""
	}
	return &ServerError{Code: code, Message: escape.Quote(text)}
}

// protocolError is an ErrProtocol with what was wrong, the input quoted.
type protocolError struct {
	what  string
	input string
}

func (e *protocolError) Error() string {
	if e.input == "" {
		return "redisresp: invalid reply: " + e.what
	}
	return "redisresp: invalid reply: " + e.what + ": " + escape.Quote(e.input)
}

func (e *protocolError) Unwrap() error { return ErrProtocol }
