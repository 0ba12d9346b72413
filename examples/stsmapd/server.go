package main

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpsec/smtpsec/internal/escape"
	"github.com/smtpsec/smtpsec/policycache"
)

// Fixed limits of the socketmap server.
const (
	// maxRefusing bounds the connections over max_connections being
	// answered TEMP at once; beyond it they are closed at once.
	maxRefusing = 64
	// refuseTimeout bounds the life of a refused connection, and how long
	// a connection closed for bad framing lingers after its last reply.
	refuseTimeout = time.Second
	// internSize bounds the per-connection table of domain strings.
	internSize = 4096
	// ioBufferSize is the size of each connection's read and write buffers.
	ioBufferSize = 4096
	// maxUnknownZones bounds the unknown zone names remembered for logging.
	maxUnknownZones = 100
)

// lookuper is what the server needs of a *policycache.Cache.
type lookuper interface {
	Lookup(ctx context.Context, domain string) (policycache.Result, error)
}

// zone is a Zone with its name and counters.
type zone struct {
	Zone
	name   string
	counts *zoneCounters
}

// settings are what a reload changes while connections stay open.
type settings struct {
	zones          map[string]*zone
	requestTimeout time.Duration
	idleTimeout    time.Duration
	maxConns       int64
}

// server answers Postfix socketmap requests (socketmap_table(5)) from a
// policy cache. It is safe for concurrent use.
type server struct {
	cache    lookuper
	log      *slog.Logger
	metrics  *metrics
	settings atomic.Pointer[settings]

	draining atomic.Bool
	refusing chan struct{}
	wg       sync.WaitGroup

	mu           sync.Mutex
	lns          map[net.Listener]struct{}
	conns        map[net.Conn]struct{}
	unknownZones map[string]struct{}
}

func newServer(cache lookuper, log *slog.Logger, m *metrics, st *settings) *server {
	s := &server{
		cache:    cache,
		log:      log,
		metrics:  m,
		refusing: make(chan struct{}, maxRefusing),
		lns:      map[net.Listener]struct{}{},
		conns:    map[net.Conn]struct{}{},

		unknownZones: map[string]struct{}{},
	}
	s.settings.Store(st)
	return s
}

// serve accepts connections on ln until shutdown, and then returns nil.
func (s *server) serve(ln net.Listener) error {
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	var pause time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.draining.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
				// Out of file descriptors or the like: the kernel keeps
				// the connections waiting meanwhile.
				pause = min(max(2*pause, 5*time.Millisecond), time.Second)
				s.log.Error("accepting a socketmap connection failed; pausing", "err", err, "pause", pause)
				time.Sleep(pause)
				continue
			}
			return err
		}
		pause = 0
		if s.metrics.connections.Load() >= s.settings.Load().maxConns {
			s.refuse(c)
			continue
		}
		if !s.track(c) {
			c.Close()
			continue
		}
		s.metrics.accepted.Add(1)
		s.metrics.connections.Add(1)
		go s.serveConn(c)
	}
}

// track adds c to the open connections, unless the server is draining.
func (s *server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// refuse answers a connection over max_connections TEMP, whatever it
// asks, so that Postfix defers the delivery instead of sending it without
// its policy; past maxRefusing such connections it just closes it, which
// Postfix also treats as a temporary failure.
func (s *server) refuse(c net.Conn) {
	s.metrics.refused.Add(1)
	select {
	case s.refusing <- struct{}{}:
	default:
		c.Close()
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.refusing }()
		defer c.Close()
		c.SetDeadline(time.Now().Add(refuseTimeout))
		if _, err := c.Write(appendNetstring(nil, []byte(replyOverload))); err != nil {
			return
		}
		lingerClose(c)
	}()
}

// lingerClose ends a connection after its last reply: it half-closes it
// and reads what the client still sends, until EOF or c's deadline,
// before the caller closes it. Closing a TCP socket with unread data sends
// a reset, which can make the client drop the reply it has not read yet.
func lingerClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	var sink [512]byte
	for {
		if _, err := c.Read(sink[:]); err != nil {
			return
		}
	}
}

// shutdown stops accepting, lets every connection finish the request it
// is answering, closes idle ones, and waits for them until ctx ends; then
// it closes what is left.
func (s *server) shutdown(ctx context.Context) {
	s.mu.Lock()
	s.draining.Store(true)
	for ln := range s.lns {
		ln.Close()
	}
	now := time.Now()
	for c := range s.conns {
		// A connection blocked waiting for a request wakes up and ends;
		// one answering a request writes its reply first.
		c.SetReadDeadline(now)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
	}
}

// connState is the per-connection state; nothing in it is shared.
type connState struct {
	c     net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	req   []byte // maxRequest+1 bytes: a request and its comma
	out   []byte // the reply being built
	num   [20]byte
	names map[string]string // interned domains, so that a hit allocates nothing
	ctx   requestContext
}

// serveConn answers the requests of c in order until it closes, idles,
// breaks the framing or the server drains.
func (s *server) serveConn(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
		s.metrics.connections.Add(-1)
		s.wg.Done()
	}()
	cs := &connState{
		c:     c,
		br:    bufio.NewReaderSize(c, ioBufferSize),
		bw:    bufio.NewWriterSize(c, ioBufferSize),
		req:   make([]byte, maxRequest+1),
		out:   make([]byte, 0, 512),
		names: make(map[string]string),
	}
	for {
		if cs.br.Buffered() == 0 {
			// Everything pipelined so far is answered: send the replies
			// and wait for the next request.
			c.SetDeadline(time.Now().Add(s.settings.Load().idleTimeout))
			if cs.bw.Flush() != nil || s.draining.Load() {
				return
			}
		}
		req, err := readNetstring(cs.br, cs.req)
		if err != nil {
			var fe framingError
			if errors.As(err, &fe) {
				s.metrics.badRequests[badFraming].Add(1)
				s.log.Info("socketmap request is not a valid netstring; closing the connection",
					"remote", c.RemoteAddr().String(), "err", err)
				cs.writeReply([]byte("PERM invalid request: " + err.Error()))
				if cs.bw.Flush() == nil {
					c.SetDeadline(time.Now().Add(refuseTimeout))
					lingerClose(c)
				}
			}
			return
		}
		cs.writeReply(s.answer(cs, s.settings.Load(), req))
	}
}

// writeReply writes one netstring reply.
func (cs *connState) writeReply(reply []byte) {
	cs.bw.Write(strconv.AppendInt(cs.num[:0], int64(len(reply)), 10))
	cs.bw.WriteByte(':')
	cs.bw.Write(reply)
	cs.bw.WriteByte(',')
}

// intern returns b as a string, the same string for the same bytes.
func (cs *connState) intern(b []byte) string {
	if s, ok := cs.names[string(b)]; ok {
		return s
	}
	if len(cs.names) >= internSize {
		clear(cs.names)
	}
	s := string(b)
	cs.names[s] = s
	return s
}

// answer returns the reply to the request "NAME KEY", in cs.out.
func (s *server) answer(cs *connState, st *settings, req []byte) []byte {
	sp := -1
	for i, c := range req {
		if c == ' ' {
			sp = i
			break
		}
	}
	if sp < 0 {
		s.metrics.badRequests[badSyntax].Add(1)
		s.log.Info("socketmap request without a space", "request", escape.Quote(string(req)))
		return append(cs.out[:0], replyNotRequest...)
	}
	z := st.zones[string(req[:sp])]
	if z == nil {
		s.metrics.badRequests[badZone].Add(1)
		if name := string(req[:sp]); s.firstUnknownZone(name) {
			s.log.Warn("socketmap request for an unknown zone; answering PERM (logged once per name)", "zone", escape.Quote(name))
		}
		return append(cs.out[:0], replyUnknownZone...)
	}
	cs.ctx.start(time.Now().Add(st.requestTimeout))
	o, res := s.decideKey(&cs.ctx, z, req[sp+1:], cs.intern)
	cs.ctx.finish()
	cs.out = appendReply(cs.out[:0], z, o, &res)
	return cs.out
}

// firstUnknownZone reports whether name is an unknown zone not seen
// before, remembering at most maxUnknownZones names, so that a
// misconfigured map is logged without flooding the log.
func (s *server) firstUnknownZone(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := s.unknownZones[name]; seen || len(s.unknownZones) >= maxUnknownZones {
		return false
	}
	s.unknownZones[name] = struct{}{}
	return true
}

// decideKey looks up the domain of the socketmap key in zone z and
// decides, counting and logging the decision. key is modified in place;
// toString makes the domain a string.
func (s *server) decideKey(ctx context.Context, z *zone, key []byte, toString func([]byte) string) (outcome, policycache.Result) {
	host, kind := nextHopDomain(key)
	if kind != keyDomain {
		z.counts[outBadKey].Add(1)
		if kind == keyInvalid {
			s.log.Info("socketmap key is not a next-hop domain; NOTFOUND", "zone", z.name, "key", escape.Quote(string(key)))
		} else if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.Debug("socketmap key is a parent domain or an address; NOTFOUND", "zone", z.name, "key", escape.Quote(string(key)))
		}
		return outBadKey, policycache.Result{}
	}
	res, err := s.cache.Lookup(ctx, toString(host))
	o := decide(z, &res, err)
	z.counts[o].Add(1)
	switch {
	case o == outBadKey:
		s.log.Info("socketmap key is not a valid domain; NOTFOUND", "zone", z.name, "key", escape.Quote(string(host)), "err", err)
	case s.log.Enabled(ctx, slog.LevelDebug):
		s.logDecision(z, string(host), o, &res, err)
	}
	return o, res
}

// logDecision logs a decision at level DEBUG.
func (s *server) logDecision(z *zone, domain string, o outcome, res *policycache.Result, err error) {
	attrs := []any{"zone", z.name, "domain", escape.Quote(domain), "decision", outcomeNames[o]}
	if res.Policy != nil {
		attrs = append(attrs, "mode", string(res.Policy.Mode), "id", res.ID, "expires", res.Expires)
	}
	attrs = append(attrs, "fresh", res.Fresh, "from_cache", res.FromCache)
	if res.Failure != "" {
		attrs = append(attrs, "failure", string(res.Failure))
	}
	if err == nil {
		err = res.Err
	}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	s.log.Debug("MTA-STS decision", attrs...)
}
