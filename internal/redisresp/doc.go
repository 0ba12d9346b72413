// Package redisresp is a small, strict Redis client for the programs of
// the core module that must not depend on a full client (examples/stsmapd):
// RESP2 over TCP, TLS or a unix socket, a bounded pool of connections, and
// a policycache.Store with the data layout and the fetch lock of the
// redisstore module's PolicyStore, so that a Postfix daemon and Go MTAs
// share one fleet cache and fetch a new policy once between them.
//
// A Client sends one command at a time on a pooled connection:
//
//	opts, err := redisresp.ParseURL("redis://:secret@127.0.0.1:6379/2")
//	c := redisresp.NewClient(opts)
//	defer c.Close()
//	r, err := c.Do(ctx, "GET", "key")
//
// Every command has a deadline: the context's, or Options.CommandTimeout
// from its start, whichever comes first. Replies are read with limits
// (MaxBulk bytes in one bulk string, MaxArray elements in one array,
// MaxLine bytes in a status line, MaxDepth levels of nesting, MaxReply
// bytes in all), so that a hostile or broken server costs bounded memory.
// A reply the server sends as an error is a *ServerError, which the pool
// survives; any other failure (I/O, timeout, protocol) discards the
// connection, so that a connection is never reused in the middle of a
// reply.
//
// The package is internal: its API follows what stsmapd and the tests of
// the redisstore module need, nothing more.
package redisresp
