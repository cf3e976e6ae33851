package traffic

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"unsafe"
)

// DefaultSortMemory is what a Sorter holds in memory before it spills a run.
const DefaultSortMemory = 128 << 20

// minSortMemory keeps runs from being so small that merging them costs more than
// sorting does.
const minSortMemory = 1 << 20

// maxFanIn bounds the runs merged at once (open files, one read buffer each); more
// runs are merged in passes.
const maxFanIn = 64

// runBuffer is each run's read and write buffer.
const runBuffer = 64 << 10

// SortOptions configure a Sorter.
type SortOptions struct {
	// MemoryBytes bounds the records held in memory, estimated as the Record struct
	// plus its strings (DefaultSortMemory when 0, at least 1 MiB). The process needs
	// more than this: the garbage collector lets the heap grow to about twice what is
	// live, and each merged run has a 64 KiB buffer.
	MemoryBytes int
	// Dir receives the run files (os.TempDir() when empty). A run file is unlinked as
	// soon as it is open where the system allows it (nothing is left behind even if
	// the process is killed); elsewhere Close removes it.
	Dir string
}

// SortStats says what a sort cost.
type SortStats struct {
	Records      int
	Runs         int   // runs spilled to disk; 0 when everything fit in memory
	MergePasses  int   // intermediate passes, when there were more runs than maxFanIn
	SpilledBytes int64 // written to run files, intermediate passes included
}

// Sorter puts records in event-time order with bounded memory: an external merge sort
// for replaying files that are not in time order. Records are held until their
// estimated size reaches SortOptions.MemoryBytes, then sorted and written to a
// temporary file as one run; Sorted merges the runs (at most 64 at a time) and the
// records still in memory. The order is stable: records with equal times come out in
// the order they were added. When everything fits in memory nothing touches the disk.
//
//	s := traffic.NewSorter(traffic.SortOptions{})
//	defer s.Close()
//	for ... { if err := s.Add(r); err != nil { ... } }
//	if err := s.Sorted(); err != nil { ... }
//	for r, ok := s.Next(); ok; r, ok = s.Next() { ... }
//	if err := s.Err(); err != nil { ... }
type Sorter struct {
	opts      SortOptions
	fanIn     int
	held      []Record
	heldBytes int
	keys      []sortKey
	runs      []*runFile // the sorted runs, in input order
	open      []*runFile // every run file not closed yet, for Close
	stats     SortStats
	body      []byte // codec scratch
	frame     []byte

	merging bool
	heads   []head // the merge's heap: the next record of each source
	sources []source
	err     error
}

// NewSorter returns an empty Sorter.
func NewSorter(opts SortOptions) *Sorter {
	if opts.MemoryBytes == 0 {
		opts.MemoryBytes = DefaultSortMemory
	}
	opts.MemoryBytes = max(opts.MemoryBytes, minSortMemory)
	if opts.Dir == "" {
		opts.Dir = os.TempDir()
	}
	return &Sorter{opts: opts, fanIn: maxFanIn}
}

// recordStructSize is what a held Record costs before its strings.
const recordStructSize = int(unsafe.Sizeof(Record{}))

// recordSize estimates the memory a held record takes.
func recordSize(r *Record) int {
	n := recordStructSize
	for _, s := range spillStrings(r) {
		n += len(*s)
	}
	if r.Template == r.Path { // shared, as the decoder builds it
		n -= len(r.Template)
	}
	return n
}

// Add takes the next record. It spills a run when the memory budget is reached.
func (s *Sorter) Add(r Record) error {
	switch {
	case s.merging:
		return errors.New("traffic: Sorter.Add after Sorted")
	case s.err != nil:
		return s.err
	}
	s.held = append(s.held, r)
	s.heldBytes += recordSize(&r)
	s.stats.Records++
	if s.heldBytes >= s.opts.MemoryBytes {
		if err := s.spill(); err != nil {
			s.err = fmt.Errorf("traffic: sorting: %w", err)
			return s.err
		}
	}
	return nil
}

// Stats says how many records were sorted and what the sort wrote.
func (s *Sorter) Stats() SortStats { return s.stats }

// sortKey orders records by time, then by input order (stability).
type sortKey struct {
	sec  int64
	nsec int32
	idx  int32
}

func compareKeys(a, b sortKey) int {
	return cmp.Or(cmp.Compare(a.sec, b.sec), cmp.Compare(a.nsec, b.nsec), cmp.Compare(a.idx, b.idx))
}

func keyOf(r *Record, idx int) sortKey {
	return sortKey{sec: r.Time.Unix(), nsec: int32(r.Time.Nanosecond()), idx: int32(idx)}
}

// order sorts the held records' keys (moving keys is cheaper than moving records).
func (s *Sorter) order() []sortKey {
	keys := s.keys[:0]
	for i := range s.held {
		keys = append(keys, keyOf(&s.held[i], i))
	}
	slices.SortFunc(keys, compareKeys)
	s.keys = keys
	return keys
}

// spill writes the held records, sorted, as a run.
func (s *Sorter) spill() error {
	keys := s.order()
	rf, err := s.newRun()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.write(rf, &s.held[k.idx]); err != nil {
			return err
		}
	}
	if err := rf.finish(); err != nil {
		return err
	}
	s.runs = append(s.runs, rf)
	clear(s.held)
	s.held, s.heldBytes = s.held[:0], 0
	s.stats.Runs++
	return nil
}

func (s *Sorter) write(rf *runFile, r *Record) error {
	s.frame, s.body = appendRecord(s.frame[:0], s.body, r)
	n, err := rf.w.Write(s.frame)
	s.stats.SpilledBytes += int64(n)
	return err
}

// Sorted ends adding and prepares the merge: Next then returns the records in order.
func (s *Sorter) Sorted() error {
	if s.merging {
		return errors.New("traffic: Sorter.Sorted called twice")
	}
	if s.err != nil {
		return s.err
	}
	s.merging = true
	// Merge runs in passes until they and the records in memory fit one merge.
	// Consecutive runs are merged together, so input order among equal times holds.
	for len(s.runs)+1 > s.fanIn {
		var next []*runFile
		for i := 0; i < len(s.runs); i += s.fanIn {
			group := s.runs[i:min(i+s.fanIn, len(s.runs))]
			if len(group) == 1 {
				next = append(next, group[0])
				continue
			}
			merged, err := s.mergeRuns(group)
			if err != nil {
				s.err = fmt.Errorf("traffic: sorting: %w", err)
				return s.err
			}
			next = append(next, merged)
		}
		s.runs = next
		s.stats.MergePasses++
	}
	for _, rf := range s.runs {
		s.sources = append(s.sources, rf.source())
	}
	s.sources = append(s.sources, &memorySource{held: s.held, keys: s.order()})
	if err := s.start(); err != nil {
		s.err = fmt.Errorf("traffic: sorting: %w", err)
		return s.err
	}
	return nil
}

// mergeRuns merges runs into a new one and closes them.
func (s *Sorter) mergeRuns(group []*runFile) (*runFile, error) {
	m := &Sorter{fanIn: s.fanIn}
	for _, rf := range group {
		m.sources = append(m.sources, rf.source())
	}
	if err := m.start(); err != nil {
		return nil, err
	}
	out, err := s.newRun()
	if err != nil {
		return nil, err
	}
	for {
		r, ok := m.Next()
		if !ok {
			break
		}
		if err := s.write(out, &r); err != nil {
			return nil, err
		}
	}
	if m.err != nil {
		return nil, m.err
	}
	for _, rf := range group {
		if err := rf.close(); err != nil {
			return nil, err
		}
	}
	return out, out.finish()
}

// Next returns the next record in time order; false at the end or on an error (Err).
func (s *Sorter) Next() (Record, bool) {
	if len(s.heads) == 0 || s.err != nil {
		return Record{}, false
	}
	h := &s.heads[0]
	r := h.rec
	next, ok, err := s.sources[h.src].next()
	switch {
	case err != nil:
		s.err = fmt.Errorf("traffic: sorting: %w", err)
		return Record{}, false
	case ok:
		h.rec, h.key = next, keyOf(&next, h.src)
		s.down(0)
	default:
		last := len(s.heads) - 1
		s.heads[0] = s.heads[last]
		s.heads = s.heads[:last]
		s.down(0)
	}
	return r, true
}

// Err returns the error that ended adding or merging: reading or writing a run file.
func (s *Sorter) Err() error { return s.err }

// Close releases the run files and removes any left. It may be called at any point,
// and more than once.
func (s *Sorter) Close() error {
	var errs []error
	for _, rf := range s.open {
		errs = append(errs, rf.close())
	}
	s.open, s.runs, s.sources, s.heads, s.held = nil, nil, nil, nil, nil
	return errors.Join(errs...)
}

// head is a source's next record in the merge. Its key's idx is the source's index,
// so equal times come out of the earlier source first.
type head struct {
	rec Record
	key sortKey
	src int
}

// start reads each source's first record and builds the heap.
func (s *Sorter) start() error {
	s.heads = s.heads[:0]
	for i, src := range s.sources {
		r, ok, err := src.next()
		if err != nil {
			return err
		}
		if ok {
			s.heads = append(s.heads, head{rec: r, key: keyOf(&r, i), src: i})
		}
	}
	for i := len(s.heads)/2 - 1; i >= 0; i-- {
		s.down(i)
	}
	return nil
}

func (s *Sorter) down(i int) {
	h := s.heads
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && compareKeys(h[r].key, h[l].key) < 0 {
			m = r
		}
		if compareKeys(h[m].key, h[i].key) >= 0 {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// source yields one sorted run's records.
type source interface {
	next() (Record, bool, error)
}

// memorySource yields the records still held, in key order, releasing each.
type memorySource struct {
	held []Record
	keys []sortKey
}

func (m *memorySource) next() (Record, bool, error) {
	if len(m.keys) == 0 {
		return Record{}, false, nil
	}
	k := m.keys[0]
	m.keys = m.keys[1:]
	r := m.held[k.idx]
	m.held[k.idx] = Record{}
	return r, true, nil
}

// runFile is one spilled run.
type runFile struct {
	f    *os.File
	name string // "" once unlinked
	w    *bufio.Writer
}

// newRun creates a run file and unlinks it at once where the system allows it.
func (s *Sorter) newRun() (*runFile, error) {
	f, err := os.CreateTemp(s.opts.Dir, "apiguard-sort-*.run")
	if err != nil {
		return nil, err
	}
	rf := &runFile{f: f, name: f.Name(), w: bufio.NewWriterSize(f, runBuffer)}
	if os.Remove(rf.name) == nil {
		rf.name = ""
	}
	s.open = append(s.open, rf)
	return rf, nil
}

// finish flushes the run and rewinds it for reading.
func (rf *runFile) finish() error {
	if err := rf.w.Flush(); err != nil {
		return err
	}
	rf.w = nil
	_, err := rf.f.Seek(0, io.SeekStart)
	return err
}

func (rf *runFile) source() source {
	return &fileSource{r: bufio.NewReaderSize(rf.f, runBuffer)}
}

// close closes the file and removes it if it still has a name.
func (rf *runFile) close() error {
	if rf.f == nil {
		return nil
	}
	err := rf.f.Close()
	rf.f = nil
	if rf.name != "" {
		if rerr := os.Remove(rf.name); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
		rf.name = ""
	}
	return err
}

type fileSource struct {
	r   *bufio.Reader
	buf []byte
}

func (f *fileSource) next() (Record, bool, error) {
	r, err := readRecord(f.r, &f.buf)
	switch {
	case errors.Is(err, io.EOF):
		return Record{}, false, nil
	case err != nil:
		return Record{}, false, err
	}
	return r, true, nil
}
