package traffic

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// The spill codec writes a Record to a Sorter's run file and reads it back. It is
// private to one process (a run never outlives its Sorter), so it carries no version.
// A frame is the body's length (uvarint) then the body: seconds and nanoseconds of
// Time, Status, the byte counts and Latency (varints), a flags byte, Client and Peer
// (a length byte then netip's binary form), the lengths of the strings (uvarints) and
// their bytes. TestSpillCodecCoversRecord fails when Record gains a field this does
// not carry.

// spillStrings lists the string fields in frame order.
func spillStrings(r *Record) [12]*string {
	return [12]*string{&r.Forwarded, &r.Method, &r.Path, &r.Query, &r.Template, &r.API, &r.Operation,
		&r.Subscription, &r.User, &r.UserAgent, &r.Host, &r.Note}
}

const (
	flagMalformed    = 1 << iota
	flagTemplatePath // Template is Path: stored once
)

// maxSpillFrame bounds a frame read back: a record is far smaller (MaxRecordBytes of
// input at most, plus its fields), so a larger length means a damaged file.
const maxSpillFrame = 64 << 20

// appendRecord appends r's frame to dst; body is scratch for the frame's body.
func appendRecord(dst, body []byte, r *Record) ([]byte, []byte) {
	b := body[:0]
	b = binary.AppendVarint(b, r.Time.Unix())
	b = binary.AppendUvarint(b, uint64(r.Time.Nanosecond()))
	b = binary.AppendVarint(b, int64(r.Status))
	b = binary.AppendVarint(b, r.RequestBytes)
	b = binary.AppendVarint(b, r.ResponseBytes)
	b = binary.AppendVarint(b, int64(r.Latency))
	var flags byte
	if r.Malformed {
		flags |= flagMalformed
	}
	strs := spillStrings(r)
	if r.Template == r.Path {
		flags |= flagTemplatePath
		strs[4] = new(string)
	}
	b = append(b, flags)
	b = appendAddr(b, r.Client)
	b = appendAddr(b, r.Peer)
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(*s)))
	}
	for _, s := range strs {
		b = append(b, *s...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...), b
}

func appendAddr(b []byte, a netip.Addr) []byte {
	n := len(b)
	b = append(b, 0)
	b, _ = a.AppendBinary(b) // never fails
	b[n] = byte(len(b) - n - 1)
	return b
}

// readRecord reads the next frame; io.EOF at a clean end. buf is reused between calls;
// the record's strings share one allocation.
func readRecord(br *bufio.Reader, buf *[]byte) (Record, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Record{}, io.EOF
		}
		return Record{}, fmt.Errorf("reading a spilled record: %w", err)
	}
	if n > maxSpillFrame {
		return Record{}, fmt.Errorf("spilled record of %d bytes: the run file is damaged", n)
	}
	if cap(*buf) < int(n) {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := io.ReadFull(br, b); err != nil {
		return Record{}, fmt.Errorf("reading a spilled record: %w", io.ErrUnexpectedEOF)
	}
	d := frameReader{b: b}
	var r Record
	sec, nsec := d.varint(), d.uvarint()
	r.Time = time.Unix(sec, int64(nsec)).UTC()
	r.Status = int(d.varint())
	r.RequestBytes = d.varint()
	r.ResponseBytes = d.varint()
	r.Latency = time.Duration(d.varint())
	flags := d.byte()
	r.Malformed = flags&flagMalformed != 0
	r.Client = d.addr()
	r.Peer = d.addr()
	strs := spillStrings(&r)
	var lens [len(strs)]int
	total := 0
	for i := range lens {
		v := d.uvarint()
		if v > uint64(len(b)) {
			d.err = true
			break
		}
		lens[i] = int(v)
		total += lens[i]
	}
	if d.err || total != len(b)-d.i {
		return Record{}, errors.New("spilled record does not add up: the run file is damaged")
	}
	s := string(b[d.i:])
	for i, p := range strs {
		*p, s = s[:lens[i]], s[lens[i]:]
	}
	if flags&flagTemplatePath != 0 {
		r.Template = r.Path
	}
	return r, nil
}

// frameReader reads a frame's fields; err is set (and reads return zero) past its end.
type frameReader struct {
	b   []byte
	i   int
	err bool
}

func (d *frameReader) varint() int64 {
	v, n := binary.Varint(d.b[d.i:])
	if n <= 0 {
		d.err, d.i = true, len(d.b)
		return 0
	}
	d.i += n
	return v
}

func (d *frameReader) uvarint() uint64 {
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.err, d.i = true, len(d.b)
		return 0
	}
	d.i += n
	return v
}

func (d *frameReader) byte() byte {
	if d.i >= len(d.b) {
		d.err = true
		return 0
	}
	d.i++
	return d.b[d.i-1]
}

func (d *frameReader) addr() netip.Addr {
	n := int(d.byte())
	if d.i+n > len(d.b) {
		d.err, d.i = true, len(d.b)
		return netip.Addr{}
	}
	var a netip.Addr
	if err := a.UnmarshalBinary(d.b[d.i : d.i+n]); err != nil {
		d.err = true
	}
	d.i += n
	return a
}
