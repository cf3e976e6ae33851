package report

import (
	"bytes"
	"testing"

	"github.com/apiguard/apiguard/shared/triage"
)

// BenchmarkRender5000 renders a month of 5,000 APIs (4 signals, 1 or 2
// recommendations each, 1,000 changes, 500 not onboarded) in all three formats: the
// report's share of the monthly run's budget (classify and render 5,000 APIs in
// under a second on one core). SetBytes counts the three outputs.
func BenchmarkRender5000(b *testing.B) {
	c := synthetic(5000)
	var buf bytes.Buffer
	render := func() int {
		n := 0
		for _, f := range []func() error{
			func() error { return JSON(&buf, c) },
			func() error { return Markdown(&buf, c) },
			func() error { return HTML(&buf, c, HTMLOptions{}) },
		} {
			buf.Reset()
			if err := f(); err != nil {
				b.Fatal(err)
			}
			n += buf.Len()
		}
		return n
	}
	b.SetBytes(int64(render()))
	b.ReportAllocs()
	for b.Loop() {
		render()
	}
}

// The three formats apart, to see where the time goes.
func BenchmarkRender5000JSON(b *testing.B) {
	benchmarkFormat(b, func(buf *bytes.Buffer, c triage.Classification) error { return JSON(buf, c) })
}

func BenchmarkRender5000Markdown(b *testing.B) {
	benchmarkFormat(b, func(buf *bytes.Buffer, c triage.Classification) error { return Markdown(buf, c) })
}

func BenchmarkRender5000HTML(b *testing.B) {
	benchmarkFormat(b, func(buf *bytes.Buffer, c triage.Classification) error { return HTML(buf, c, HTMLOptions{}) })
}

func benchmarkFormat(b *testing.B, render func(*bytes.Buffer, triage.Classification) error) {
	c := synthetic(5000)
	var buf bytes.Buffer
	if err := render(&buf, c); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := render(&buf, c); err != nil {
			b.Fatal(err)
		}
	}
}
