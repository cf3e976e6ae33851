package record

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Size limits for one entity. Azure counts an entity's binary properties by
// their bytes and strings at two bytes a character, against 1 MiB; Azurite
// instead measures the JSON request body, where binary travels as base64
// (4/3 larger). An entity passes both only if both measures stay under 1 MiB,
// so payloads are budgeted against the larger of the two.
const (
	maxEntityBytes = 1024 * 1024
	// entityMargin absorbs what the estimates leave out (odata annotations the
	// SDK adds, Timestamp, rounding).
	entityMargin = 4 * 1024
	// chunkBytes is the largest binary property: "< 64 KiB" on both services.
	chunkBytes = 64*1024 - 1
	// chunkOverhead is the JSON around one chunk: its name twice, quotes and
	// the "@odata.type":"Edm.Binary" annotation.
	chunkOverhead = 48
	// maxChunks is more chunk properties than one payload can have: each takes
	// the base64 of up to chunkBytes of an entity's 1 MiB.
	maxChunks = maxEntityBytes/((chunkBytes+2)/3*4) + 1
)

// Property suffixes of a stored payload <name>: <name>0..<name>N hold the gzip
// stream, <name>Bytes the original length, <name>Truncated marks a stream cut
// short to fit.
const (
	truncatedSuffix = "Truncated"
	lengthSuffix    = "Bytes"
)

// putChunks gzips data into binary properties name0..nameN using at most budget
// bytes of the entity. What does not fit is cut off and name+"Truncated" set:
// a giant alert must not make the write fail. Gzip decodes a cut stream up to
// the cut, so the stored part still reads back as a prefix of data. With whole
// set, a payload that does not fit is not stored at all (only the flag): a cut
// JSON document is useless and would take room from the next payload.
// It returns the bytes used and whether data was cut.
func putChunks(e *entity, name string, data []byte, budget int, whole bool) (int, bool) {
	if len(data) == 0 {
		return 0, false
	}
	z := gzipBytes(data)
	used := 2*len(name) + 32 // the length property
	var chunks [][]byte
	for i := 0; len(z) > 0; i++ {
		prop := name + strconv.Itoa(i)
		room := budget - used - chunkOverhead - 2*len(prop)
		n := min(len(z), chunkBytes, room/4*3)
		if n <= 0 {
			break
		}
		chunks = append(chunks, z[:n])
		used += chunkOverhead + 2*len(prop) + base64Len(n)
		z = z[n:]
	}
	cut := len(z) > 0
	if cut {
		e.setBool(name+truncatedSuffix, true)
		if whole {
			return len(name) + 32, true
		}
	}
	e.setInt(name+lengthSuffix, int64(len(data)))
	for i, c := range chunks {
		e.props[name+strconv.Itoa(i)] = aztables.EDMBinary(c)
	}
	return used, cut
}

// getChunks reassembles and decompresses name0..nameN. For a truncated stream
// it returns the prefix that was kept and truncated = true.
func getChunks(e *entity, name string) (data []byte, truncated bool, err error) {
	var z []byte
	for i := 0; ; i++ {
		v, ok := e.props[name+strconv.Itoa(i)].(aztables.EDMBinary)
		if !ok {
			break
		}
		z = append(z, v...)
	}
	truncated = e.boolean(name + truncatedSuffix)
	if len(z) == 0 {
		return nil, truncated, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		if truncated {
			return nil, true, nil // cut inside the gzip header: nothing to recover
		}
		return nil, false, fmt.Errorf("record: %s: %w", name, err)
	}
	var out bytes.Buffer
	out.Grow(int(min(max(e.int(name+lengthSuffix), 0), 4*maxEntityBytes)))
	if _, err := out.ReadFrom(zr); err != nil && !(truncated && errors.Is(err, io.ErrUnexpectedEOF)) {
		return nil, truncated, fmt.Errorf("record: %s: %w", name, err)
	}
	return out.Bytes(), truncated, nil
}

// putPayload stores a JSON document: inline as a readable string when it is
// small and valid UTF-8, otherwise gzip-chunked. Unlike incident payloads it
// must fit whole, since a cut JSON document is not a document.
// Call it after every other property is set: the room left is measured then.
func putPayload(e *entity, name string, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if len(data) <= maxStringUnits && utf8.Valid(data) {
		e.props[name] = string(data)
		return nil
	}
	return putCompressed(e, name, data)
}

// putCompressed stores data gzip-chunked, whole or not at all: a payload that
// does not fit even compressed is an error. Call it after every other property
// is set: the room left is measured then.
func putCompressed(e *entity, name string, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	budget, err := payloadBudget(e)
	if err != nil {
		return err
	}
	if _, cut := putChunks(e, name, data, budget, true); cut {
		return fmt.Errorf("record: %s is %d bytes and does not fit in one entity even compressed", name, len(data))
	}
	return nil
}

func getPayload(e *entity, name string) ([]byte, error) {
	if s, ok := e.props[name].(string); ok {
		return []byte(s), nil
	}
	data, _, err := getChunks(e, name)
	return data, err
}

// gzipWriters are reused: a new gzip.Writer allocates about 800 KB, which
// dominated an incident write (two payloads) in Memory and costs the same online.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func gzipBytes(data []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(data)/4 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	// Writes to a bytes.Buffer cannot fail.
	_, _ = zw.Write(data)
	_ = zw.Close()
	return buf.Bytes()
}

func base64Len(n int) int { return (n + 2) / 3 * 4 }

// entitySize is the larger of the entity's size as Azure counts it and its JSON
// body as Azurite counts it.
func entitySize(e *entity) (int, error) {
	body, err := e.marshal()
	if err != nil {
		return 0, err
	}
	azure := 4 + 2*utf16Len(e.pk) + 2*utf16Len(e.rk) + 8 + 2*len("Timestamp") + 8
	for name, v := range e.props {
		azure += 8 + 2*utf16Len(name)
		switch v := v.(type) {
		case string:
			azure += 4 + 2*utf16Len(v)
		case aztables.EDMBinary:
			azure += 4 + len(v)
		case bool:
			azure++
		case int32:
			azure += 4
		default:
			azure += 16
		}
	}
	return max(azure, len(body)), nil
}

// payloadBudget is what is left for payloads in e once its other properties are set.
func payloadBudget(e *entity) (int, error) {
	size, err := entitySize(e)
	if err != nil {
		return 0, err
	}
	return maxEntityBytes - entityMargin - size, nil
}
