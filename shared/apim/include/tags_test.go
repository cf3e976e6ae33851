package include

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestTags(t *testing.T) {
	doc := "\xEF\xBB\xBF<policies><!-- <inbound> --><inbound>\n" +
		`<set-variable name="v" value="@(context.Request.Headers.GetValueOrDefault("x","") != "</inbound>")" />` + "\n" +
		"<set-body>@{ return body.As<JObject>().ToString(); }</set-body>\n" +
		`<validate-jwt header-name="Authorization" /><base /></inbound><outbound /></policies>`
	var got []string
	var kept Tag
	err := Tags([]byte(doc), func(tg Tag) bool {
		s := string(tg.Name)
		switch {
		case tg.End:
			s = "/" + s
		case tg.SelfClosing:
			s += "/"
		}
		if v, ok := tg.Attr("header-name"); ok {
			s += "[" + string(v) + "]"
			kept = tg
		}
		if doc[tg.Start] != '<' || doc[tg.Stop-1] != '>' {
			t.Errorf("tag %s: doc[%d:%d] = %q is not a tag", s, tg.Start, tg.Stop, doc[tg.Start:tg.Stop])
		}
		got = append(got, s)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "policies inbound set-variable/ set-body /set-body validate-jwt/[Authorization] base/ /inbound outbound/ /policies"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("tags\n got %s\nwant %s", g, want)
	}
	if v, ok := kept.Attr("header-name"); ok {
		t.Errorf("Attr after the callback = %q, want nothing", v)
	}
}

func TestTagsStop(t *testing.T) {
	n := 0
	err := Tags([]byte("<policies><inbound></inbound><!-- never closed"), func(tg Tag) bool {
		n++
		return !tg.End
	})
	if err != nil || n != 3 {
		t.Errorf("stopping at the first end tag: %d tags, %v; want 3, nil", n, err)
	}
	err = Tags([]byte("<policies><inbound></inbound><!-- never closed"), func(Tag) bool { return true })
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("unterminated comment: %v, want ErrMalformed", err)
	}
}

func ExampleTags() {
	doc := []byte(`<policies><inbound><choose><when condition="@(a < b)"><validate-jwt header-name="Authorization" /></when></choose></inbound></policies>`)
	depth := 0
	_ = Tags(doc, func(t Tag) bool {
		if t.End {
			depth--
			return true
		}
		fmt.Printf("%d %s\n", depth, t.Name)
		if !t.SelfClosing {
			depth++
		}
		return true
	})
	// Output:
	// 0 policies
	// 1 inbound
	// 2 choose
	// 3 when
	// 4 validate-jwt
}
