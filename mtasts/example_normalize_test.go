package mtasts_test

import (
	"errors"
	"fmt"

	"github.com/smtpsec/smtpsec/mtasts"
)

func ExampleNormalizeDomain() {
	for _, name := range []string{"Example.COM.", "bücher.example", "ab--c.example", "a_b.example"} {
		d, err := mtasts.NormalizeDomain(name)
		if errors.Is(err, mtasts.ErrInvalidDomain) {
			fmt.Printf("%s: invalid\n", name)
			continue
		}
		fmt.Printf("%s: %s\n", name, d)
	}
	// Output:
	// Example.COM.: example.com
	// bücher.example: xn--bcher-kva.example
	// ab--c.example: ab--c.example
	// a_b.example: invalid
}
