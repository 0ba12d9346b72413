package main

import (
	"bufio"
	"errors"
	"io"
	"strconv"
)

// Limits of the socketmap protocol (Postfix socketmap_table(5)).
const (
	// maxRequest is the longest request accepted, in bytes, netstring
	// framing excluded.
	maxRequest = 10000
	// maxReply is the longest reply Postfix accepts, in bytes, netstring
	// framing excluded.
	maxReply = 100000
)

// A framingError is a request that is not a netstring of at most
// maxRequest bytes. The stream cannot be resynchronised after it, so the
// connection is answered PERM and closed.
type framingError string

func (e framingError) Error() string { return "netstring: " + string(e) }

// Framing errors.
const (
	errEmptyLength  framingError = "empty length"
	errLengthDigits framingError = "length is not a decimal number"
	errLeadingZero  framingError = "length has a leading zero"
	errTooLong      framingError = "request longer than 10000 bytes"
	errNoComma      framingError = "missing comma after the data"
)

// readNetstring reads one netstring ("<len>:<bytes>,") from r into buf,
// which must hold maxRequest+1 bytes, and returns its data, a slice of
// buf. At the start of a netstring, a closed stream is io.EOF; within one,
// io.ErrUnexpectedEOF. A malformed netstring is a framingError, detected
// before any data beyond the length is read when the length is at fault.
func readNetstring(r *bufio.Reader, buf []byte) ([]byte, error) {
	n, digits := 0, 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && digits > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if b == ':' {
			if digits == 0 {
				return nil, errEmptyLength
			}
			break
		}
		if b < '0' || b > '9' {
			return nil, errLengthDigits
		}
		if digits == 1 && n == 0 {
			return nil, errLeadingZero
		}
		n = n*10 + int(b-'0')
		digits++
		if n > maxRequest {
			return nil, errTooLong
		}
	}
	if _, err := io.ReadFull(r, buf[:n+1]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if buf[n] != ',' {
		return nil, errNoComma
	}
	return buf[:n], nil
}

// appendNetstring appends data to dst as a netstring.
func appendNetstring(dst, data []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	dst = append(dst, ':')
	dst = append(dst, data...)
	return append(dst, ',')
}
