package redisresp

import (
	"bufio"
	"io"
	"strconv"
)

// Limits of a reply. A reply past one of them is an ErrProtocol and its
// connection is closed.
const (
	// MaxBulk bounds one bulk string: the 1 MiB of a stored policy entry
	// plus slack.
	MaxBulk = 1<<20 + 1<<10
	// MaxArray bounds the elements of one array.
	MaxArray = 1 << 16
	// MaxLine bounds a status, error or integer line, CRLF included.
	MaxLine = 4096
	// MaxDepth bounds the nesting of arrays.
	MaxDepth = 4
	// MaxReply bounds the bytes of one reply, headers included.
	MaxReply = 4 << 20
)

// Kind is the RESP2 type of a Reply.
type Kind uint8

// The kinds of reply. An error reply is not a Reply but a *ServerError.
const (
	KindNil    Kind = iota // nil bulk string or nil array
	KindStatus             // "+OK"
	KindInt                // ":1"
	KindBulk               // "$3\r\nabc"
	KindArray              // "*2\r\n..."
)

// Reply is one RESP2 reply other than an error.
type Reply struct {
	Kind  Kind
	Int   int64   // KindInt
	Bytes []byte  // KindStatus, KindBulk
	Array []Reply // KindArray
}

// replyReader reads replies from a buffered connection, within the limits.
type replyReader struct {
	br     *bufio.Reader
	budget int // bytes left of MaxReply for the reply being read
}

// newReplyReader reads from r with a buffer of MaxLine bytes, so that a
// longer line is caught by bufio.ErrBufferFull.
func newReplyReader(r io.Reader) *replyReader {
	return &replyReader{br: bufio.NewReaderSize(r, MaxLine)}
}

// read reads one reply. An error reply is returned as a *ServerError
// with a zero Reply; after any other error the stream is unusable.
func (rr *replyReader) read() (Reply, error) {
	rr.budget = MaxReply
	var serr *ServerError
	r, err := rr.value(0, &serr)
	if err != nil {
		return Reply{}, err
	}
	if serr != nil {
		return Reply{}, serr
	}
	return r, nil
}

// line returns the next line without its CRLF; it is valid until the
// next read.
func (rr *replyReader) line() ([]byte, error) {
	b, err := rr.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, &protocolError{what: "line longer than " + strconv.Itoa(MaxLine) + " bytes", input: string(b)}
	}
	if err != nil {
		if err == io.EOF && len(b) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(b) < 2 || b[len(b)-2] != '\r' {
		return nil, &protocolError{what: "line not ended by CRLF", input: string(b)}
	}
	if rr.budget -= len(b); rr.budget < 0 {
		return nil, errTooLarge()
	}
	return b[:len(b)-2], nil
}

// value reads one value at nesting depth. The first error reply met is
// kept in *serr (an array may hold errors, as EXEC's does) and reading
// goes on, so that the whole reply is consumed.
func (rr *replyReader) value(depth int, serr **ServerError) (Reply, error) {
	b, err := rr.line()
	if err != nil {
		return Reply{}, err
	}
	if len(b) == 0 {
		return Reply{}, &protocolError{what: "empty line"}
	}
	switch b[0] {
	case '+':
		return Reply{Kind: KindStatus, Bytes: append([]byte(nil), b[1:]...)}, nil
	case '-':
		if *serr == nil {
			*serr = newServerError(string(b[1:]))
		}
		return Reply{}, nil
	case ':':
		n, err := parseInt(b[1:])
		if err != nil {
			return Reply{}, err
		}
		return Reply{Kind: KindInt, Int: n}, nil
	case '$':
		n, err := length(b, MaxBulk)
		if err != nil || n == -1 {
			return Reply{Kind: KindNil}, err
		}
		if rr.budget -= int(n) + 2; rr.budget < 0 {
			return Reply{}, errTooLarge()
		}
		data := make([]byte, n+2)
		if _, err := io.ReadFull(rr.br, data); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Reply{}, err
		}
		if data[n] != '\r' || data[n+1] != '\n' {
			return Reply{}, &protocolError{what: "bulk string not ended by CRLF"}
		}
		return Reply{Kind: KindBulk, Bytes: data[:n:n]}, nil
	case '*':
		n, err := length(b, MaxArray)
		if err != nil || n == -1 {
			return Reply{Kind: KindNil}, err
		}
		if depth >= MaxDepth {
			return Reply{}, &protocolError{what: "arrays nested deeper than " + strconv.Itoa(MaxDepth)}
		}
		// Each element takes at least 3 bytes ("+\r\n"): the budget bounds
		// the allocation by what can still arrive.
		if int(n)*3 > rr.budget {
			return Reply{}, errTooLarge()
		}
		arr := make([]Reply, n)
		for i := range arr {
			if arr[i], err = rr.value(depth+1, serr); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return Reply{}, err
			}
		}
		return Reply{Kind: KindArray, Array: arr}, nil
	}
	return Reply{}, &protocolError{what: "unknown reply type", input: string(b)}
}

// length reads the length of the bulk string or array header line b:
// -1 (nil) or 0 to limit.
func length(b []byte, limit int64) (int64, error) {
	n, err := parseInt(b[1:])
	if err != nil {
		return 0, err
	}
	if n < -1 || n > limit {
		return 0, &protocolError{what: "length out of range", input: string(b)}
	}
	return n, nil
}

// errTooLarge is the error of a reply past MaxReply.
func errTooLarge() error {
	return &protocolError{what: "reply larger than " + strconv.Itoa(MaxReply) + " bytes"}
}

// parseInt reads a RESP integer: an optional "-" and 1 to 19 digits.
func parseInt(b []byte) (int64, error) {
	digits := b
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, &protocolError{what: "invalid integer", input: string(b)}
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, &protocolError{what: "invalid integer", input: string(b)}
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, &protocolError{what: "integer out of range", input: string(b)}
		}
		n = n*10 + d
	}
	if len(digits) < len(b) {
		n = -n
	}
	return n, nil
}

// appendCommand appends args as a RESP2 array of bulk strings, the form
// of every command.
func appendCommand(dst []byte, args ...string) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for _, a := range args {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}
