package mtasts

import "testing"

func TestPolicyID(t *testing.T) {
	p := pol(ModeEnforce, 604800, "mail.example.com")
	id := PolicyID(p)
	if len(id) != 32 {
		t.Fatalf("PolicyID = %q, %d characters; want 32", id, len(id))
	}
	r, err := ParseRecord("v=STSv1; id=" + id)
	if err != nil || r.ID != id {
		t.Fatalf("the id is not valid in a record: %v", err)
	}
	// The same content gives the same id, however it was written.
	q, err := ParsePolicy([]byte("max_age: 604800\nmx: MAIL.example.com\nmode: enforce\nversion: STSv1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := PolicyID(q); got != id {
		t.Errorf("PolicyID of the same policy written differently = %q, want %q", got, id)
	}
	// Any change changes it.
	seen := map[string]string{id: "base"}
	for name, c := range map[string]*Policy{
		"mode":      pol(ModeTesting, 604800, "mail.example.com"),
		"max_age":   pol(ModeEnforce, 604801, "mail.example.com"),
		"mx":        pol(ModeEnforce, 604800, "mail2.example.com"),
		"extra mx":  pol(ModeEnforce, 604800, "mail.example.com", "mail2.example.com"),
		"extension": withExt(pol(ModeEnforce, 604800, "mail.example.com"), "note", "x"),
	} {
		got := PolicyID(c)
		if other, dup := seen[got]; dup {
			t.Errorf("PolicyID after changing %s = %q, the same as %s", name, got, other)
		}
		seen[got] = name
	}
	// Pinned (computed independently: printf 'version: STSv1\r\nmode:
	// enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n' | sha256sum),
	// so that ids stay stable across releases: senders would refetch every
	// policy if the derivation changed.
	if id != "a5963b31a082635c6ec668171482b14f" {
		t.Errorf("PolicyID = %q; the derivation changed", id)
	}
}
