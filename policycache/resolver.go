package policycache

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Defaults of DNSResolver, the same as those of resolv.conf(5).
const (
	defaultResolvConf  = "/etc/resolv.conf"
	defaultDNSTimeout  = 5 * time.Second
	defaultDNSAttempts = 2
	// ednsBufferSize is the UDP payload size advertised with EDNS(0): the
	// value of DNS Flag Day 2020, small enough to avoid IP fragmentation.
	ednsBufferSize = 1232
	// maxCNAMEHops bounds how many CNAMEs are followed from the queried name.
	maxCNAMEHops = 8
)

// DNSResolver looks up TXT and MX records with github.com/miekg/dns,
// talking directly to recursive resolvers. Unlike the resolver of package net it
// returns the TTL of an answer, so that a Cache can keep TXT records exactly
// as long as DNS allows, and it tells an authoritative "no such record"
// apart from a failure:
//
//   - NXDOMAIN, or NOERROR without a record of the type asked for (NODATA): a *net.DNSError with
//     IsNotFound set. RFC 8461 §3.1 calls this "no available policy".
//   - SERVFAIL: a *net.DNSError with IsTemporary set.
//   - no answer in time: a *net.DNSError with IsTimeout and IsTemporary set.
//   - REFUSED and other response codes, or a malformed reply: a
//     *net.DNSError with neither set ("server misbehaving").
//
// A reply with the TC (truncated) bit set is asked again over TCP. CNAMEs
// in the answer are followed (RFC 8461 §3.1 requires it for policy
// delegation, §8.2), and a CNAME whose target the server did not resolve is
// queried itself, at most 8 links deep.
//
// Each server is tried in turn, Attempts times round. A DNSResolver is safe
// for concurrent use; its fields must not change once it is in use. The zero
// value reads its servers from /etc/resolv.conf at every lookup, so changes
// to that file are picked up without a restart.
type DNSResolver struct {
	// Servers are the recursive resolvers to ask, as "host:port" or bare
	// IP addresses (port 53). When empty, the nameserver lines of
	// ConfigFile are used.
	Servers []string
	// ConfigFile is the resolv.conf(5) file read when Servers is empty;
	// "" means /etc/resolv.conf. Its "timeout" and "attempts" options are
	// honoured when Timeout and Attempts are zero.
	ConfigFile string
	// Timeout bounds one query to one server (default 5 seconds).
	Timeout time.Duration
	// Attempts is how many times the list of servers is tried (default 2).
	Attempts int
}

// LookupTXT returns the TXT records at name, each record's strings joined
// without spaces (RFC 8461 §3.1, RFC 7208 §3.3). Its contract is that of
// (*net.Resolver).LookupTXT, so a *DNSResolver can be used wherever a
// resolver of package net is expected.
func (r *DNSResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txt, _, err := r.LookupTXTTTL(ctx, name)
	return txt, err
}

// LookupTXTTTL is LookupTXT that also returns how long the answer may be
// cached: the smallest TTL of the records used (TXT records and the CNAMEs
// leading to them). For a *net.DNSError with IsNotFound the duration is the
// negative-caching TTL of RFC 2308 §5 (the smaller of the SOA record's TTL
// and its MINIMUM field), or zero when the reply carried no SOA record. For
// other errors it is zero.
func (r *DNSResolver) LookupTXTTTL(ctx context.Context, name string) ([]string, time.Duration, error) {
	var records []string
	ttl, err := r.lookup(ctx, name, dns.TypeTXT, func(rr dns.RR) {
		records = append(records, strings.Join(rr.(*dns.TXT).Txt, ""))
	})
	if err != nil {
		return nil, ttl, err
	}
	return records, ttl, nil
}

// LookupMX returns the MX records at name (RFC 5321 §5.1), sorted by
// preference, lowest first; records of equal preference are in random
// order, as RFC 5321 §5.1 asks a client to try them. Host names are
// returned as in DNS, absolute with a trailing dot; the null MX of
// RFC 7505 comes back as a single record with Host ".". Errors are those
// of LookupTXT: NXDOMAIN and NODATA give a *net.DNSError with IsNotFound,
// SERVFAIL one with IsTemporary, no answer in time one with IsTimeout;
// truncated replies are asked again over TCP and CNAMEs are followed. Its
// contract is that of (*net.Resolver).LookupMX, so a *DNSResolver
// satisfies inspect.Resolver and can serve an MTA's MX lookups.
func (r *DNSResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	var mxs []*net.MX
	_, err := r.lookup(ctx, name, dns.TypeMX, func(rr dns.RR) {
		mx := rr.(*dns.MX)
		mxs = append(mxs, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	})
	if err != nil {
		return nil, err
	}
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	return mxs, nil
}

// lookup asks for the records of type qtype at name, following CNAMEs,
// and passes each record found at the end of the chain to add. It returns
// the smallest TTL of the records used; for an IsNotFound error, the
// negative-caching TTL (see LookupTXTTTL).
func (r *DNSResolver) lookup(ctx context.Context, name string, qtype uint16, add func(dns.RR)) (time.Duration, error) {
	servers, timeout, attempts, err := r.config()
	if err != nil {
		return 0, &net.DNSError{Err: err.Error(), Name: name, UnwrapErr: err}
	}
	qname := dns.Fqdn(name)
	if _, ok := dns.IsDomainName(qname); !ok || qname == "." {
		return 0, &net.DNSError{Err: "invalid domain name", Name: name}
	}
	var (
		ttl     = uint32(1<<32 - 1)
		visited = map[string]bool{}
	)
	for hop := 0; ; hop++ {
		visited[strings.ToLower(qname)] = true
		reply, err := r.query(ctx, qname, qtype, servers, timeout, attempts)
		if err != nil {
			err.Name = name
			return 0, err
		}
		switch reply.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			return negativeTTL(reply), &net.DNSError{Err: "no such host", Name: name, Server: reply.server, IsNotFound: true}
		default:
			// query only returns NOERROR or NXDOMAIN replies.
			return 0, &net.DNSError{Err: "server misbehaving", Name: name, Server: reply.server}
		}
		target, found, minTTL := collect(reply.Answer, qname, qtype, add)
		if minTTL < ttl {
			ttl = minTTL
		}
		if found {
			return time.Duration(ttl) * time.Second, nil
		}
		if target == "" {
			return negativeTTL(reply), &net.DNSError{Err: "no " + dns.TypeToString[qtype] + " record", Name: name, Server: reply.server, IsNotFound: true}
		}
		// The answer ended in a CNAME whose target the server did not
		// resolve: ask for the target itself.
		if hop+1 >= maxCNAMEHops || visited[strings.ToLower(target)] {
			return 0, &net.DNSError{Err: "CNAME chain too long or looping", Name: name, Server: reply.server}
		}
		qname = target
	}
}

// collect walks the answer section from qname along CNAMEs, passing the
// records of type qtype found at the end of the chain to add. It returns
// the last name of the chain when it ends without such records, whether
// records were found, and the smallest TTL seen along the way.
func collect(answer []dns.RR, qname string, qtype uint16, add func(dns.RR)) (target string, found bool, ttl uint32) {
	ttl = 1<<32 - 1
	name := qname
	for hop := 0; hop < maxCNAMEHops; hop++ {
		next := ""
		for _, rr := range answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			if h.Rrtype == qtype && h.Class == dns.ClassINET {
				add(rr)
				found = true
				ttl = min(ttl, h.Ttl)
			} else if cname, ok := rr.(*dns.CNAME); ok && next == "" {
				next = cname.Target
				ttl = min(ttl, h.Ttl)
			}
		}
		if found {
			return "", true, ttl
		}
		if next == "" {
			if name == qname {
				return "", false, ttl
			}
			return name, false, ttl
		}
		name = next
	}
	return name, false, ttl
}

// negativeTTL is the negative-caching TTL of RFC 2308 §5 carried by a
// NXDOMAIN or NODATA reply, zero when there is no SOA record.
func negativeTTL(m *reply) time.Duration {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
		}
	}
	return 0
}

// reply is a DNS response and the server that sent it.
type reply struct {
	*dns.Msg
	server string
}

// query asks the servers in turn for the records of type qtype at qname and returns
// the first NOERROR or NXDOMAIN reply. SERVFAIL, REFUSED, malformed replies
// and timeouts move on to the next server; when every attempt failed, the
// error says how the last one failed.
func (r *DNSResolver) query(ctx context.Context, qname string, qtype uint16, servers []string, timeout time.Duration, attempts int) (*reply, *net.DNSError) {
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.SetEdns0(ednsBufferSize, false)
	udp := &dns.Client{Net: "udp", Timeout: timeout, UDPSize: ednsBufferSize}
	tcp := &dns.Client{Net: "tcp", Timeout: timeout}

	var last *net.DNSError
	for range attempts {
		for _, server := range servers {
			if err := ctx.Err(); err != nil {
				return nil, contextError(err, server)
			}
			// A fresh ID for every exchange, so that a late reply to an
			// earlier one is not taken for this one's.
			m.Id = dns.Id()
			in, err := exchange(ctx, udp, m, server)
			if err == nil && in.Truncated {
				in, err = exchange(ctx, tcp, m, server)
			}
			if err != nil {
				if ctxErr := ctx.Err(); ctxErr != nil {
					return nil, contextError(ctxErr, server)
				}
				last = exchangeError(err, server)
				continue
			}
			if !validReply(in, qname, qtype) {
				last = &net.DNSError{Err: "server misbehaving", Server: server}
				continue
			}
			switch in.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				return &reply{Msg: in, server: server}, nil
			case dns.RcodeServerFailure:
				last = &net.DNSError{Err: "server failure (SERVFAIL)", Server: server, IsTemporary: true}
			default:
				last = &net.DNSError{Err: "server misbehaving: " + rcodeName(in.Rcode), Server: server}
			}
		}
	}
	if last == nil {
		last = &net.DNSError{Err: "no DNS servers"}
	}
	return nil, last
}

// exchange sends m to server and reads the reply. Unlike
// (*dns.Client).ExchangeContext, which only honours the deadline of ctx, it
// also returns as soon as ctx is cancelled (by closing the connection).
func exchange(ctx context.Context, client *dns.Client, m *dns.Msg, server string) (*dns.Msg, error) {
	conn, err := client.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	in, _, err := client.ExchangeWithConnContext(ctx, m, conn)
	return in, err
}

// validReply reports whether in is a complete answer to the question of
// type qtype about qname.
func validReply(in *dns.Msg, qname string, qtype uint16) bool {
	if !in.Response || in.Truncated || len(in.Question) != 1 {
		return false
	}
	q := in.Question[0]
	return q.Qtype == qtype && q.Qclass == dns.ClassINET && strings.EqualFold(q.Name, qname)
}

func rcodeName(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return "RCODE " + strconv.Itoa(rcode)
}

// exchangeError turns a network error of one exchange into a *net.DNSError.
func exchangeError(err error, server string) *net.DNSError {
	// Network errors are worth retrying; anything else (a reply that
	// does not unpack) means the server misbehaves.
	var ne net.Error
	isNet := errors.As(err, &ne)
	return &net.DNSError{
		Err:         err.Error(),
		Server:      server,
		IsTimeout:   isNet && ne.Timeout(),
		IsTemporary: isNet,
		UnwrapErr:   err,
	}
}

// contextError reports the end of the caller's context the way package net
// does: errors.Is(err, context.DeadlineExceeded) or context.Canceled holds.
func contextError(err error, server string) *net.DNSError {
	return &net.DNSError{
		Err:         err.Error(),
		Server:      server,
		IsTimeout:   errors.Is(err, context.DeadlineExceeded),
		IsTemporary: true,
		UnwrapErr:   err,
	}
}

// config returns the servers, per-query timeout and number of attempts to
// use, reading the resolv.conf file when no servers are configured.
func (r *DNSResolver) config() (servers []string, timeout time.Duration, attempts int, err error) {
	servers, timeout, attempts = r.Servers, r.Timeout, r.Attempts
	port := "53"
	if len(servers) == 0 {
		file := r.ConfigFile
		if file == "" {
			file = defaultResolvConf
		}
		conf, err := dns.ClientConfigFromFile(file)
		if err != nil {
			return nil, 0, 0, err
		}
		if len(conf.Servers) == 0 {
			return nil, 0, 0, errors.New("no nameserver in " + file)
		}
		servers, port = conf.Servers, conf.Port
		if timeout <= 0 && conf.Timeout > 0 {
			timeout = time.Duration(conf.Timeout) * time.Second
		}
		if attempts <= 0 && conf.Attempts > 0 {
			attempts = conf.Attempts
		}
	}
	if timeout <= 0 {
		timeout = defaultDNSTimeout
	}
	if attempts <= 0 {
		attempts = defaultDNSAttempts
	}
	addrs := make([]string, len(servers))
	for i, s := range servers {
		addrs[i] = withPort(s, port)
	}
	return addrs, timeout, attempts, nil
}

// withPort adds port to a bare host name or IP address (IPv6 included).
func withPort(server, port string) string {
	if _, _, err := net.SplitHostPort(server); err == nil {
		return server
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(server, "["), "]"), port)
}
