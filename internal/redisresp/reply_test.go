package redisresp

import (
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestReadReply: every RESP2 reply form, and the malformed and
// over-limit ones, each a typed error.
func TestReadReply(t *testing.T) {
	big := strconv.Itoa(MaxBulk + 1)
	tests := []struct {
		name, in string
		want     Reply
		err      error // errors.Is target; nil means success
		serr     string
	}{
		{"status", "+OK\r\n", Reply{Kind: KindStatus, Bytes: []byte("OK")}, nil, ""},
		{"int", ":42\r\n", Reply{Kind: KindInt, Int: 42}, nil, ""},
		{"negative int", ":-7\r\n", Reply{Kind: KindInt, Int: -7}, nil, ""},
		{"max int", ":9223372036854775807\r\n", Reply{Kind: KindInt, Int: 1<<63 - 1}, nil, ""},
		{"bulk", "$3\r\nabc\r\n", Reply{Kind: KindBulk, Bytes: []byte("abc")}, nil, ""},
		{"empty bulk", "$0\r\n\r\n", Reply{Kind: KindBulk, Bytes: []byte{}}, nil, ""},
		{"binary bulk", "$4\r\na\r\nb\r\n", Reply{Kind: KindBulk, Bytes: []byte("a\r\nb")}, nil, ""},
		{"nil bulk", "$-1\r\n", Reply{Kind: KindNil}, nil, ""},
		{"nil array", "*-1\r\n", Reply{Kind: KindNil}, nil, ""},
		{"empty array", "*0\r\n", Reply{Kind: KindArray, Array: []Reply{}}, nil, ""},
		{"scan", "*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n", Reply{Kind: KindArray, Array: []Reply{
			{Kind: KindBulk, Bytes: []byte("0")},
			{Kind: KindArray, Array: []Reply{{Kind: KindBulk, Bytes: []byte("a")}, {Kind: KindBulk, Bytes: []byte("b")}}},
		}}, nil, ""},
		{"server error", "-WRONGTYPE Operation against a key\r\n", Reply{}, nil, "WRONGTYPE"},
		{"error in array", "*2\r\n+OK\r\n-ERR x\r\n", Reply{}, nil, "ERR"},
		{"bare LF", "+OK\n", Reply{}, ErrProtocol, ""},
		{"empty line", "\r\n", Reply{}, ErrProtocol, ""},
		{"unknown type", "!3\r\n", Reply{}, ErrProtocol, ""},
		{"bad int", ":4x\r\n", Reply{}, ErrProtocol, ""},
		{"empty int", ":\r\n", Reply{}, ErrProtocol, ""},
		{"int overflow", ":9223372036854775808\r\n", Reply{}, ErrProtocol, ""},
		{"long int", ":12345678901234567890\r\n", Reply{}, ErrProtocol, ""},
		{"bulk too large", "$" + big + "\r\n", Reply{}, ErrProtocol, ""},
		{"bulk negative", "$-2\r\n", Reply{}, ErrProtocol, ""},
		{"bulk without CRLF", "$3\r\nabcde\r\n", Reply{}, ErrProtocol, ""},
		{"bulk cut", "$10\r\nabc", Reply{}, io.ErrUnexpectedEOF, ""},
		{"array too long", "*" + strconv.Itoa(MaxArray+1) + "\r\n", Reply{}, ErrProtocol, ""},
		{"array cut", "*" + strconv.Itoa(MaxArray) + "\r\n", Reply{}, io.ErrUnexpectedEOF, ""},
		{"too deep", strings.Repeat("*1\r\n", MaxDepth+1) + ":1\r\n", Reply{}, ErrProtocol, ""},
		{"line too long", "+" + strings.Repeat("a", MaxLine) + "\r\n", Reply{}, ErrProtocol, ""},
		{"cut line", "+OK", Reply{}, io.ErrUnexpectedEOF, ""},
		{"nothing", "", Reply{}, io.EOF, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newReplyReader(strings.NewReader(tt.in)).read()
			if tt.serr != "" {
				var se *ServerError
				if !errors.As(err, &se) || se.Code != tt.serr {
					t.Fatalf("error %v, want a ServerError %s", err, tt.serr)
				}
				return
			}
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				if len(err.Error()) > 200 {
					t.Errorf("error of %d bytes quotes too much: %.100s", len(err.Error()), err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestReadReplySequence: replies follow one another on a stream, and the
// reader stops at the end of each.
func TestReadReplySequence(t *testing.T) {
	rr := newReplyReader(strings.NewReader("+OK\r\n$2\r\nhi\r\n:3\r\n"))
	for _, want := range []Kind{KindStatus, KindBulk, KindInt} {
		r, err := rr.read()
		if err != nil || r.Kind != want {
			t.Fatalf("%+v, %v; want kind %d", r, err, want)
		}
	}
	if _, err := rr.read(); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
}

// TestReplyBudget: many bulk strings within the element limits but past
// MaxReply in all are refused before they are read.
func TestReplyBudget(t *testing.T) {
	n := MaxReply/MaxBulk + 1
	in := "*" + strconv.Itoa(n) + "\r\n" + strings.Repeat("$"+strconv.Itoa(MaxBulk)+"\r\n"+strings.Repeat("x", MaxBulk)+"\r\n", n)
	if _, err := newReplyReader(strings.NewReader(in)).read(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("error %v, want ErrProtocol", err)
	}
}

// TestServerErrorEscaped: a server error's message is escaped and cut.
func TestServerErrorEscaped(t *testing.T) {
	_, err := newReplyReader(strings.NewReader("-ERR \x1b[31m" + strings.Repeat("x", 1000) + "\r\n")).read()
	var se *ServerError
	if !errors.As(err, &se) {
		t.Fatal(err)
	}
	if strings.Contains(se.Message, "\x1b") || len(se.Message) > 100 {
		t.Errorf("message not escaped and cut: %q", se.Message)
	}
	_, err = newReplyReader(strings.NewReader("-\x00bad\r\n")).read()
	if !errors.As(err, &se) || se.Code != "" {
		t.Errorf("code of a non-word error: %v", err)
	}
}

// TestAppendCommand: a command is an array of bulk strings.
func TestAppendCommand(t *testing.T) {
	got := string(appendCommand(nil, "SET", "k", "a\r\nb", ""))
	want := "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n$0\r\n\r\n"
	if got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// TestGetRangeEnd: Get reads up to the byte past maxPolicyEntry.
func TestGetRangeEnd(t *testing.T) {
	if getRangeEnd != strconv.Itoa(maxPolicyEntry) {
		t.Errorf("getRangeEnd %s, want %d", getRangeEnd, maxPolicyEntry)
	}
}
