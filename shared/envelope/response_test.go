package envelope

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

func assertSameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("response JSON\n got %s\nwant %s", got, want)
	}
}

func TestResponseWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp func() *Response
		want string
	}{
		{
			name: "http output as the protocol shows it",
			resp: func() *Response {
				r := &Response{}
				r.SetHTTP("res", HTTPResponse{
					StatusCode: 202,
					Headers:    map[string]string{"Content-Type": "application/json"},
					Body:       `{"accepted":true,"note":"<ok>"}`,
				})
				r.Log("accepted %d alert(s)", 1)
				return r
			},
			want: `{"Outputs":{"res":{"statusCode":202,"headers":{"Content-Type":"application/json"},"body":"{\"accepted\":true,\"note\":\"<ok>\"}"}},"Logs":["accepted 1 alert(s)"],"ReturnValue":null}` + "\n",
		},
		{
			name: "empty: Outputs and Logs are never null",
			resp: func() *Response { return &Response{} },
			want: `{"Outputs":{},"Logs":[],"ReturnValue":null}` + "\n",
		},
		{
			name: "no headers, empty body, return value",
			resp: func() *Response {
				r := &Response{ReturnValue: map[string]int{"n": 2}}
				r.SetHTTP("res", HTTPResponse{StatusCode: 204})
				r.Outputs["outQueue"] = []map[string]string{{"ruleId": "r1"}}
				return r
			},
			want: `{"Outputs":{"outQueue":[{"ruleId":"r1"}],"res":{"statusCode":204,"body":""}},"Logs":[],"ReturnValue":{"n":2}}` + "\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := tc.resp().Write(rec); err != nil {
				t.Fatal(err)
			}
			if rec.Code != http.StatusOK {
				t.Errorf("status %d, want 200", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if got := rec.Body.String(); got != tc.want {
				t.Errorf("body\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// An output that cannot be encoded fails before anything is written, so the caller can
// still answer 500.
func TestResponseWriteEncodeError(t *testing.T) {
	rec := httptest.NewRecorder()
	r := &Response{Outputs: map[string]any{"bad": make(chan int)}}
	if err := r.Write(rec); err == nil {
		t.Fatal("want an encoding error")
	}
	if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
		t.Errorf("wrote %q with headers %v before failing", rec.Body.String(), rec.Header())
	}
}
