package traffic

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/apiguard/apiguard/shared/fault"
)

// Format names a log layout.
type Format string

const (
	FormatAuto             Format = "auto"              // detect per batch (also the zero value)
	FormatAPIMDiagnostic   Format = "apim-diagnostic"   // Azure Monitor GatewayLogs: {"records":[...]}, camelCase properties
	FormatAPIMLogAnalytics Format = "apim-loganalytics" // ApiManagementGatewayLogs rows, PascalCase
	FormatAppGateway       Format = "appgw"             // ApplicationGatewayAccessLog
	FormatFrontDoor        Format = "frontdoor"         // FrontDoorAccessLog
	FormatCombined         Format = "combined"          // nginx/Apache combined or common log lines
)

// Formats lists every concrete format, in detection order of preference.
var Formats = []Format{FormatAPIMDiagnostic, FormatAPIMLogAnalytics, FormatAppGateway, FormatFrontDoor, FormatCombined}

// ParseFormat reads a format name ("" means auto), case-insensitively.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	if f == "" || f == FormatAuto {
		return FormatAuto, nil
	}
	for _, known := range Formats {
		if f == known {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown log format %q (want auto, %s)", s, formatList())
}

func formatList() string {
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

const (
	// DefaultMaxRecordBytes bounds one record (a JSON record object or a log line).
	DefaultMaxRecordBytes = 64 << 10
	// DefaultMaxBatchBytes bounds one batch (a message body, an HTTP body, a file
	// handed to Decode, or one line of a replayed file holding a {"records":[...]}).
	DefaultMaxBatchBytes = 64 << 20
)

// Options control decoding. The zero value detects the format, trusts no proxy and
// applies the default limits.
type Options struct {
	// Format overrides detection; "" or FormatAuto detects per batch.
	Format Format
	// Trust names the proxies whose forwarded headers are believed (see Trust).
	Trust Trust
	// MaxRecordBytes bounds one record or line; a longer one is set aside.
	MaxRecordBytes int
	// MaxBatchBytes bounds the input of Decode (and one line of a Scanner); a longer
	// batch is refused whole with a fault.Rejected (413).
	MaxBatchBytes int
}

// WithDefaults fills every zero field with its default.
func (o Options) WithDefaults() Options {
	if o.Format == "" {
		o.Format = FormatAuto
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.Trust.ForwardedHeader == "" {
		o.Trust.ForwardedHeader = DefaultForwardedHeader
	}
	return o
}

// Validate checks the options as given (call WithDefaults first) and names every
// problem at once, as a rejection: a bad setting is fixed by the operator.
func (o Options) Validate() error {
	var errs []error
	if _, err := ParseFormat(string(o.Format)); err != nil {
		errs = append(errs, err)
	}
	if o.MaxRecordBytes < 256 {
		errs = append(errs, fmt.Errorf("max record bytes %d is under 256", o.MaxRecordBytes))
	}
	if o.MaxBatchBytes < o.MaxRecordBytes {
		errs = append(errs, fmt.Errorf("max batch bytes %d is under max record bytes %d", o.MaxBatchBytes, o.MaxRecordBytes))
	}
	if err := o.Trust.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	return fault.Rejected(http.StatusBadRequest, fmt.Errorf("traffic options: %w", errors.Join(errs...)))
}

// SetAside is one item of a batch that was not decoded, and why.
type SetAside struct {
	// Index is the item's position in the batch: records and set-aside items are
	// numbered together, in input order, from 0.
	Index int `json:"index"`
	// Line is the 1-based line of the input the item starts on.
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	// Excerpt is the item's first 120 bytes, with invalid UTF-8 and control
	// characters replaced, safe to log.
	Excerpt string `json:"excerpt"`
}

// Batch is what one input decoded to.
type Batch struct {
	Format   Format     `json:"format"`
	Records  []Record   `json:"records"`
	SetAside []SetAside `json:"set_aside,omitempty"`
}

// Decode reads one batch: a Service Bus message body, an HTTP body or a file. The
// format is opts.Format or, when that is auto, detected from the batch's first
// bytes and first records (see Detect).
//
// The error is a fault.Rejected and only for a batch that cannot be read as a whole:
// over MaxBatchBytes (413), an unknown or undetectable format (400). A bad record is
// set aside in Batch.SetAside with its reason and the rest is decoded. An empty or
// blank batch decodes to no records.
func Decode(data []byte, opts Options) (Batch, error) {
	opts = opts.WithDefaults()
	if len(data) > opts.MaxBatchBytes {
		return Batch{}, fault.Rejected(http.StatusRequestEntityTooLarge,
			fmt.Errorf("traffic: batch of %d bytes is over the limit of %d", len(data), opts.MaxBatchBytes))
	}
	format, err := ParseFormat(string(opts.Format))
	if err != nil {
		return Batch{}, reject(err)
	}
	if isBlank(data) {
		return Batch{Format: format, Records: []Record{}}, nil
	}
	lines := false
	if format == FormatAuto {
		if format, lines, err = detect(data); err != nil {
			return Batch{}, reject(err)
		}
	}
	d := newDecoder(opts, format)
	d.out.Records = make([]Record, 0, estimateRecords(len(data), format))
	switch {
	case format == FormatCombined:
		d.textLines(data)
	case lines: // decided on its lines: read as the Scanner reads it
		d.jsonLines(bytes.TrimPrefix(data, utf8BOM), 1)
	default:
		d.jsonBatch(data)
	}
	return d.out, nil
}

func reject(err error) error {
	return fault.Rejected(http.StatusBadRequest, fmt.Errorf("traffic: %w", err))
}

// estimateRecords sizes the record slice from typical record sizes, so a batch
// rarely grows it more than once.
func estimateRecords(n int, f Format) int {
	per := 900
	if f == FormatCombined {
		per = 180
	}
	return min(n/per+1, 1<<16)
}

func isBlank(b []byte) bool {
	b = bytes.TrimPrefix(b, utf8BOM)
	return len(bytes.TrimSpace(b)) == 0
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}
