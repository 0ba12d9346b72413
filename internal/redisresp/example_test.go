package redisresp_test

import (
	"fmt"

	"github.com/smtpsec/smtpsec/internal/redisresp"
)

// ExampleParseURL: the address, credentials and database of a Redis URL;
// NewClient(opts) then connects on first use.
func ExampleParseURL() {
	opts, err := redisresp.ParseURL("redis://mta:secret@127.0.0.1:6380/2")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(opts.Network, opts.Addr, opts.Username, opts.DB)
	_, err = redisresp.ParseURL("memcached://127.0.0.1")
	fmt.Println(err)
	// Output:
	// tcp 127.0.0.1:6380 mta 2
	// redisresp: URL scheme "memcached" is not redis, rediss or unix
}
