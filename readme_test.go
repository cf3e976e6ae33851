package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// readmeExamples are the offline commands the README shows, as a reader would type
// them: `bin/apiguard ...` lines in its sh blocks, continuation lines joined. Usage
// lines (with [optional] parts or placeholders) are not examples.
func readmeExamples(t *testing.T) [][]string {
	t.Helper()
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	inSh, cont := false, ""
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"):
			inSh = true
			continue
		case strings.HasPrefix(line, "```"):
			inSh = false
			continue
		}
		if !inSh {
			continue
		}
		line = cont + strings.TrimSpace(line)
		if strings.HasSuffix(line, `\`) {
			cont = strings.TrimSuffix(line, `\`) + " "
			continue
		}
		cont = ""
		if c := strings.Index(line, " #"); c >= 0 {
			line = strings.TrimSpace(line[:c])
		}
		if !strings.HasPrefix(line, "bin/apiguard ") || strings.ContainsAny(line, "[]") || strings.Contains(line, "FILE") {
			continue
		}
		out = append(out, strings.Fields(strings.TrimPrefix(line, "bin/apiguard ")))
	}
	return out
}

// Every offline example in the README runs as shown, on files that ship with it.
func TestReadmeExamplesRun(t *testing.T) {
	examples := readmeExamples(t)
	if len(examples) < 5 {
		t.Fatalf("found %d examples in the README: the extraction is broken", len(examples))
	}
	for _, args := range examples {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(args, nil, &out, &errOut); code != 0 || out.Len() == 0 {
				t.Errorf("exit %d, %d bytes out: %s", code, out.Len(), errOut.String())
			}
		})
	}
}
