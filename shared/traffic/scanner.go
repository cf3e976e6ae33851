package traffic

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/apiguard/apiguard/shared/fault"
)

// maxPendingSetAside bounds the set-aside items a Scanner holds between SetAside
// calls; past it they are only counted.
const maxPendingSetAside = 1024

// Scanner decodes a stream line by line, for replaying big files: each line is a
// combined log line or one JSON document (a record, a row, or a {"records":[...]}
// batch). Memory stays constant apart from the current line and the records it
// holds. The format is opts.Format or decided on the first access line (see Detect):
// lines of no format before it are set aside at once, and lines that may still be
// records of an undecided JSON format are held, with whatever follows them, until
// the format is known (at most 1024 lines and MaxBatchBytes). When no JSON format can
// be decided any more the stream is read as combined lines, and refused at its end
// if none of them was an access line.
//
//	s := traffic.NewScanner(f, opts)
//	for {
//		r, ok := s.Next()
//		if !ok {
//			break
//		}
//		...
//	}
//	if err := s.Err(); err != nil { ... }
type Scanner struct {
	r         *bufio.Reader
	d         *decoder
	format    Format
	line      int
	pos       int // next record of d.out.Records to hand out
	buf       []byte
	ld        *lineDetector // while the format is auto or tentative
	held      []heldLine    // lines read before the format was known
	heldBytes int
	tentative bool // combined because nothing else can be: refused at the end without an access line
	err       error
	done      bool
	dropped   int // set-aside items not kept (over maxPendingSetAside)
	records   int
	asides    int
}

// heldLine is a line held until the format is known.
type heldLine struct {
	line       []byte
	n, tooLong int
}

// NewScanner returns a Scanner reading r.
func NewScanner(r io.Reader, opts Options) *Scanner {
	opts = opts.WithDefaults()
	s := &Scanner{r: bufio.NewReaderSize(r, 64<<10)}
	f, err := ParseFormat(string(opts.Format))
	if err != nil {
		s.err, s.done = reject(err), true
	}
	s.format = f
	s.d = newDecoder(opts, f)
	if f == FormatAuto {
		s.ld = newLineDetector()
	}
	return s
}

// Format is the format being decoded; FormatAuto until detection has run.
func (s *Scanner) Format() Format { return s.format }

// Next returns the next record; false at the end of the input or on an error
// (see Err).
func (s *Scanner) Next() (Record, bool) {
	for {
		if s.pos < len(s.d.out.Records) {
			r := s.d.out.Records[s.pos]
			s.d.out.Records[s.pos] = Record{}
			s.pos++
			return r, true
		}
		s.d.out.Records, s.pos = s.d.out.Records[:0], 0
		if s.done {
			return Record{}, false
		}
		s.step()
	}
}

// SetAside returns the items set aside since the previous call (at most 1024; the
// rest are counted in Counts) and forgets them.
func (s *Scanner) SetAside() []SetAside {
	out := s.d.out.SetAside
	s.d.out.SetAside = nil
	return out
}

// Counts returns how many records and set-aside items the scanner has produced so
// far, and how many set-aside items it did not keep for SetAside.
func (s *Scanner) Counts() (records, setAside, dropped int) {
	return s.records, s.asides, s.dropped
}

// Err returns the error that ended the scan: a read error (transient), or a
// fault.Rejected for an undetectable format. Nil at a clean end of input.
func (s *Scanner) Err() error { return s.err }

// step reads one line and decodes it (or holds it until the format is known).
func (s *Scanner) step() {
	line, n, tooLong, err := s.readLine()
	if err != nil && !errors.Is(err, io.EOF) {
		s.err, s.done = fault.Transient(fmt.Errorf("traffic: reading line %d: %w", n, err)), true
		return
	}
	eof := err != nil
	if (line != nil || tooLong > 0) && (tooLong > 0 || !isBlank(line)) {
		switch {
		case s.format == FormatAuto:
			s.detectLine(line, n, tooLong)
		case s.tentative:
			if tooLong == 0 {
				if f, _ := s.ld.feed(line, n); f == FormatCombined {
					s.tentative, s.ld = false, nil
				}
			}
			s.decode(line, n, tooLong)
		default:
			s.decode(line, n, tooLong)
		}
	}
	if eof {
		if s.format == FormatAuto && s.ld.lines > 0 || s.tentative {
			s.err = reject(s.ld.refusal())
			s.held, s.heldBytes = nil, 0
		}
		s.done = true
	}
}

// detectLine feeds a line read before the format is known to the detector, and holds
// it, decodes it or decides the format.
func (s *Scanner) detectLine(line []byte, n, tooLong int) {
	var f Format
	candidate := false
	if tooLong == 0 {
		f, candidate = s.ld.feed(line, n)
	} else {
		s.ld.note(line, n)
	}
	switch {
	case f != "":
		s.hold(line, n, tooLong)
		s.decide(f, false)
		return
	case candidate || len(s.held) > 0:
		s.hold(line, n, tooLong)
	default:
		// No format reads this line: it is set aside now, with the reason every
		// decoder gives (the decoder's format is still auto).
		s.decode(line, n, tooLong)
	}
	if !s.ld.jsonOpen() || s.heldBytes > s.d.opts.MaxBatchBytes {
		s.decide(FormatCombined, true)
	}
}

func (s *Scanner) hold(line []byte, n, tooLong int) {
	s.held = append(s.held, heldLine{line: bytes.Clone(line), n: n, tooLong: tooLong})
	s.heldBytes += len(line)
}

// decide sets the format and decodes the held lines. A tentative decision (combined,
// because no JSON format can be decided any more) stands until the end of the input
// unless an access line shows up.
func (s *Scanner) decide(f Format, tentative bool) {
	s.format, s.tentative = f, tentative
	s.d.setFormat(f)
	if !tentative {
		s.ld = nil
	}
	for _, h := range s.held {
		s.decode(h.line, h.n, h.tooLong)
	}
	s.held, s.heldBytes = nil, 0
}

// decode turns one line into records and set-aside items.
func (s *Scanner) decode(line []byte, n, tooLong int) {
	d := s.d
	before, asides := len(d.out.Records), len(d.out.SetAside)
	switch {
	case tooLong > 0:
		d.src, d.line = nil, n
		d.setAside(line, 0, len(line), fmt.Sprintf("line of %d bytes is over the limit of %d", tooLong, s.lineLimit()))
	case s.format == FormatCombined:
		d.combinedLine(line, n)
	default:
		d.jsonLine(line, n)
	}
	s.records += len(d.out.Records) - before
	added := len(d.out.SetAside) - asides
	s.asides += added
	if over := len(d.out.SetAside) - maxPendingSetAside; over > 0 {
		d.out.SetAside = d.out.SetAside[:maxPendingSetAside]
		s.dropped += over
	}
}

// lineLimit is the longest line read whole: a JSON line may hold a whole batch.
func (s *Scanner) lineLimit() int {
	if s.format == FormatCombined {
		return s.d.opts.MaxRecordBytes
	}
	return s.d.opts.MaxBatchBytes
}

// readLine returns the next line without its line ending, and its number. A line
// over the limit is consumed and dropped: tooLong is its length and line holds its
// first bytes (for the excerpt). line is nil only at the end of input.
func (s *Scanner) readLine() (line []byte, n, tooLong int, err error) {
	s.line++
	n = s.line
	limit := s.lineLimit()
	s.buf = s.buf[:0]
	total := 0
	for {
		chunk, rerr := s.r.ReadSlice('\n')
		if total == 0 && len(chunk) > 0 && !errors.Is(rerr, bufio.ErrBufferFull) {
			// The whole line is in the reader's buffer: decoded from there, not copied
			// (it is done with before the next read; what is kept of it is copied).
			if line = bytes.TrimSuffix(chunk, newline); len(line) <= limit {
				if n == 1 {
					line = bytes.TrimPrefix(line, utf8BOM)
				}
				return line, n, 0, rerr
			}
		}
		total += len(chunk)
		if total <= limit+1 {
			s.buf = append(s.buf, chunk...)
		} else if keep := excerptLen + utf8.UTFMax - len(s.buf); keep > 0 {
			s.buf = append(s.buf, chunk[:min(len(chunk), keep)]...) // enough for the excerpt
		}
		if errors.Is(rerr, bufio.ErrBufferFull) {
			continue
		}
		if rerr != nil && total == 0 {
			return nil, n, 0, rerr
		}
		line = bytes.TrimSuffix(s.buf, newline) // a '\r' before it is the line decoders' business
		if n == 1 {
			line = bytes.TrimPrefix(line, utf8BOM)
		}
		length := total
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			length--
		}
		if length > limit {
			return line, n, length, rerr
		}
		return line, n, 0, rerr
	}
}
