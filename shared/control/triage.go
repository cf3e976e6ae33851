package control

import (
	"bytes"
	"mime"
	"regexp"
	"strings"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/triage/report"
)

// document is an answer that is already rendered, in a media type of its own.
type document struct {
	contentType string
	body        []byte
}

// TriageRun is what POST /v1/triage/run answers.
type TriageRun struct {
	Month   string `json:"month"`
	Summary string `json:"summary"`
	// Report is the month's report, relative to the API (add ?format=html for the page).
	Report string `json:"report"`
}

var monthParam = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// triageFormats are the report's formats and their media types.
var triageFormats = map[string]string{
	"json": "application/json",
	"md":   "text/markdown; charset=utf-8",
	"html": "text/html; charset=utf-8",
}

// triageFormat is the format asked for: ?format= first, else the Accept header's
// first media type that is one of them, else JSON.
func (c *call) triageFormat() (string, error) {
	if f := c.query("format"); f != "" {
		if _, ok := triageFormats[f]; !ok {
			return "", fault.Invalid("format", "%q is not json, md or html", f)
		}
		return f, nil
	}
	for _, part := range strings.Split(c.req.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json", "application/*", "*/*":
			return "json", nil
		case "text/markdown":
			return "md", nil
		case "text/html":
			return "html", nil
		}
	}
	return "json", nil
}

// triageReport renders a month's report ("latest": the newest) in the asked format.
func (a *API) triageReport(c *call, month string) (any, error) {
	format, err := c.triageFormat()
	if err != nil {
		return nil, err
	}
	if month == "latest" {
		months, err := a.app.TriageMonths(c.ctx)
		if err != nil {
			return nil, err
		}
		if len(months) == 0 {
			return nil, fault.NotFound("no triage has run yet: POST %s/triage/run", Prefix)
		}
		month = months[len(months)-1]
	} else if !monthParam.MatchString(month) {
		return nil, fault.Invalid("month", "%q is not YYYY-MM (or latest)", month)
	}
	cl, found, err := a.app.TriageReport(c.ctx, month)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fault.NotFound("no triage report for %s", month)
	}
	var buf bytes.Buffer
	switch format {
	case "md":
		err = report.Markdown(&buf, cl)
	case "html":
		err = report.HTML(&buf, cl, report.HTMLOptions{})
	default:
		err = report.JSON(&buf, cl)
	}
	if err != nil {
		return nil, err
	}
	return document{contentType: triageFormats[format], body: buf.Bytes()}, nil
}

// triageDoc is the JSON report's document, for the OpenAPI schema.
type triageDoc = report.Document
