package mtasts

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestRecordJSON: a Record reads as {"id":...,"extensions":[...]}.
func TestRecordJSON(t *testing.T) {
	for _, tc := range []struct {
		txt, want string
	}{
		{"v=STSv1; id=20160831085700Z;", `{"id":"20160831085700Z"}`},
		{"v=STSv1; id=a1; ext=v", `{"id":"a1","extensions":[{"name":"ext","value":"v"}]}`},
	} {
		r, err := ParseRecord(tc.txt)
		if err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(r)
		if err != nil || string(data) != tc.want {
			t.Errorf("JSON of %q = %s, %v; want %s", tc.txt, data, err, tc.want)
		}
		var back Record
		if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(&back, r) {
			t.Errorf("round trip of %s: %+v, %v", data, back, err)
		}
	}
}

// TestPolicyJSON: the JSON form of a Policy is its canonical text, with
// max_age in seconds, and reads back to the same policy.
func TestPolicyJSON(t *testing.T) {
	p, err := NewPolicy(ModeTesting, 7*24*time.Hour, "mx1.example.com", "*.mail.example.net")
	if err != nil {
		t.Fatal(err)
	}
	p.Extensions = []Extension{{"note", "kept"}}
	data, err := json.Marshal(struct {
		Policy *Policy `json:"policy"`
	}{p})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"policy":"version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: *.mail.example.net\r\nmax_age: 604800\r\nnote: kept\r\n"}`
	if string(data) != want {
		t.Errorf("JSON\n got %s\nwant %s", data, want)
	}
	var back struct {
		Policy *Policy `json:"policy"`
	}
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back.Policy, p) {
		t.Errorf("round trip: %+v, %v; want %+v", back.Policy, err, p)
	}
	if err := json.Unmarshal([]byte(`{"policy":"version: STSv1\nmode: enforce\n"}`), &back); err == nil {
		t.Error("an invalid policy was read from JSON")
	}
}
