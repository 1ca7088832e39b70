package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// This file is a small, safe pickle interpreter for the subset of protocols 2-4 that torch.save
// emits. It never imports or calls anything: GLOBAL only yields a symbolic pyGlobal, and only
// globals the caller allows are accepted; what REDUCE, BUILD and persistent ids mean is decided
// by the caller's hooks (see torchbin.go).

// Values on the pickle stack: nil (None), bool, int64, float64, string, []byte, pyTuple,
// *pyList, *pyDict, pyGlobal, and whatever the hooks return.
type (
	pyTuple  []any
	pyList   struct{ items []any }
	pyGlobal struct{ module, name string }
)

// pyDict is an insertion-ordered dict. Keys are restricted to comparable scalars, which is all
// a state_dict needs, so lookups can use a Go map.
type pyDict struct {
	keys  []any
	vals  []any
	index map[any]int
}

func newDict() *pyDict { return &pyDict{index: map[any]int{}} }

// set inserts or replaces key, like Python's d[key] = val.
func (d *pyDict) set(key, val any) error {
	switch key.(type) {
	case string, int64, bool, float64, nil:
	default:
		return fmt.Errorf("unsupported dict key type %s", typeName(key))
	}
	if i, ok := d.index[key]; ok {
		d.vals[i] = val
		return nil
	}
	d.index[key] = len(d.keys)
	d.keys = append(d.keys, key)
	d.vals = append(d.vals, val)
	return nil
}

func (g pyGlobal) String() string { return g.module + "." + g.name }

// typeName describes a value for error messages without printing it: values can be cyclic
// (a list appended to itself through the memo) and arbitrarily large.
func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case pyGlobal:
		return "global " + v.String()
	case pyTuple:
		return fmt.Sprintf("tuple of %d", len(v))
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// unpickleHooks gives meaning to the objects a pickle refers to.
type unpickleHooks struct {
	allowGlobal    func(g pyGlobal) bool
	reduce         func(fn pyGlobal, args pyTuple) (any, error)
	persistentLoad func(pid any) (any, error)
}

// unpickler is the pickle virtual machine state.
type unpickler struct {
	hooks unpickleHooks
	data  []byte
	pos   int
	stack []any
	marks []int // stack heights saved by MARK
	memo  map[uint32]any
}

var errTruncated = errors.New("unexpected end of pickle data")

// unpickle runs the pickle in data and returns the object STOP leaves on the stack. Malformed
// input of any kind is an error, never a panic.
func unpickle(data []byte, hooks unpickleHooks) (any, error) {
	u := &unpickler{hooks: hooks, data: data, memo: map[uint32]any{}}
	for {
		if u.pos >= len(u.data) {
			return nil, errTruncated
		}
		at := u.pos
		op := u.data[u.pos]
		u.pos++
		done, err := u.step(op)
		if err != nil {
			return nil, fmt.Errorf("pickle opcode 0x%02x at byte %d: %w", op, at, err)
		}
		if done {
			if len(u.stack) != 1 || len(u.marks) != 0 {
				return nil, fmt.Errorf("pickle STOP with %d values and %d marks on the stack, want 1 and 0", len(u.stack), len(u.marks))
			}
			return u.stack[0], nil
		}
	}
}

// step executes one opcode; done is true after STOP.
func (u *unpickler) step(op byte) (done bool, err error) {
	switch op {
	case 0x80: // PROTO
		b, err := u.read(1)
		if err == nil && b[0] > 5 {
			err = fmt.Errorf("unsupported pickle protocol %d", b[0])
		}
		return false, err
	case 0x95: // FRAME: a length hint for buffered readers; we have all bytes already
		_, err := u.read(8)
		return false, err
	case '.': // STOP
		return true, nil
	case '(': // MARK
		u.marks = append(u.marks, len(u.stack))
	case '0': // POP
		_, err = u.pop()
	case '1': // POP_MARK
		_, err = u.popMark()
	case '2': // DUP
		var v any
		if v, err = u.top(); err == nil {
			u.push(v)
		}
	case 'N': // NONE
		u.push(nil)
	case 0x88: // NEWTRUE
		u.push(true)
	case 0x89: // NEWFALSE
		u.push(false)
	case 'J': // BININT: 4-byte signed
		err = u.pushUint(4, func(v uint64) any { return int64(int32(v)) })
	case 'K': // BININT1
		err = u.pushUint(1, func(v uint64) any { return int64(v) })
	case 'M': // BININT2
		err = u.pushUint(2, func(v uint64) any { return int64(v) })
	case 0x8a: // LONG1: 1-byte length, then little-endian two's complement
		err = u.long(1)
	case 0x8b: // LONG4
		err = u.long(4)
	case 'G': // BINFLOAT: big-endian binary64
		var b []byte
		if b, err = u.read(8); err == nil {
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		}
	case 'X', 'T': // BINUNICODE, BINSTRING (py2 str): 4-byte length
		err = u.pushBytes(4, true)
	case 0x8c, 'U': // SHORT_BINUNICODE, SHORT_BINSTRING: 1-byte length
		err = u.pushBytes(1, true)
	case 0x8d: // BINUNICODE8
		err = u.pushBytes(8, true)
	case 'B': // BINBYTES
		err = u.pushBytes(4, false)
	case 'C': // SHORT_BINBYTES
		err = u.pushBytes(1, false)
	case ')': // EMPTY_TUPLE
		u.push(pyTuple{})
	case 't': // TUPLE
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(pyTuple(items))
		}
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		err = u.tupleN(int(op-0x85) + 1)
	case ']': // EMPTY_LIST
		u.push(&pyList{})
	case 'l': // LIST
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(&pyList{items: items})
		}
	case 'a': // APPEND
		err = u.appends(false)
	case 'e': // APPENDS
		err = u.appends(true)
	case '}': // EMPTY_DICT
		u.push(newDict())
	case 'd': // DICT
		var items []any
		if items, err = u.popMark(); err == nil {
			d := newDict()
			u.push(d)
			err = setPairs(d, items)
		}
	case 's': // SETITEM
		err = u.setItems(false)
	case 'u': // SETITEMS
		err = u.setItems(true)
	case 'q': // BINPUT
		err = u.put(1)
	case 'r': // LONG_BINPUT
		err = u.put(4)
	case 0x94: // MEMOIZE
		var v any
		if v, err = u.top(); err == nil {
			u.memo[uint32(len(u.memo))] = v
		}
	case 'h': // BINGET
		err = u.get(1)
	case 'j': // LONG_BINGET
		err = u.get(4)
	case 'c': // GLOBAL: "module\nname\n"
		err = u.global()
	case 0x93: // STACK_GLOBAL
		err = u.stackGlobal()
	case 'R': // REDUCE
		err = u.reduce()
	case 'b': // BUILD
		err = u.build()
	case 'Q': // BINPERSID
		err = u.persid()
	default:
		err = fmt.Errorf("unsupported opcode %q", op)
	}
	return false, err
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, errTruncated
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

// readUint reads an n-byte (1, 2, 4 or 8) little-endian unsigned integer.
func (u *unpickler) readUint(n int) (uint64, error) {
	b, err := u.read(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

// floor is the lowest stack index the current mark region may touch.
func (u *unpickler) floor() int {
	if len(u.marks) == 0 {
		return 0
	}
	return u.marks[len(u.marks)-1]
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) <= u.floor() {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) <= u.floor() {
		return nil, errors.New("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark removes and returns everything pushed since the last MARK.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) pushUint(n int, conv func(uint64) any) error {
	v, err := u.readUint(n)
	if err == nil {
		u.push(conv(v))
	}
	return err
}

// long decodes LONG1/LONG4. Anything that does not fit an int64 is refused: tensor sizes,
// offsets and numels never need more.
func (u *unpickler) long(lenBytes int) error {
	n, err := u.readUint(lenBytes)
	if err != nil {
		return err
	}
	if n > 8 {
		return fmt.Errorf("integer of %d bytes does not fit int64", n)
	}
	b, err := u.read(int(n))
	if err != nil {
		return err
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if n > 0 && n < 8 && b[n-1]&0x80 != 0 { // sign-extend
		v |= ^uint64(0) << (8 * n)
	}
	u.push(int64(v))
	return nil
}

func (u *unpickler) pushBytes(lenBytes int, text bool) error {
	n, err := u.readUint(lenBytes)
	if err != nil {
		return err
	}
	if n > uint64(len(u.data)-u.pos) {
		return errTruncated
	}
	b, _ := u.read(int(n))
	if text {
		u.push(string(b))
	} else {
		u.push(append([]byte(nil), b...))
	}
	return nil
}

func (u *unpickler) tupleN(n int) error {
	if len(u.stack)-u.floor() < n {
		return errors.New("stack underflow")
	}
	t := append(pyTuple(nil), u.stack[len(u.stack)-n:]...)
	u.stack = u.stack[:len(u.stack)-n]
	u.push(t)
	return nil
}

// appends implements APPEND (one item) and APPENDS (all items since MARK).
func (u *unpickler) appends(many bool) error {
	var items []any
	var err error
	if many {
		items, err = u.popMark()
	} else {
		var v any
		v, err = u.pop()
		items = []any{v}
	}
	if err != nil {
		return err
	}
	target, err := u.top()
	if err != nil {
		return err
	}
	l, ok := target.(*pyList)
	if !ok {
		return fmt.Errorf("append to %s, want list", typeName(target))
	}
	l.items = append(l.items, items...)
	return nil
}

// setItems implements SETITEM (one pair) and SETITEMS (all pairs since MARK).
func (u *unpickler) setItems(many bool) error {
	var items []any
	var err error
	if many {
		items, err = u.popMark()
	} else if len(u.stack)-u.floor() < 2 {
		err = errors.New("stack underflow")
	} else {
		items = append([]any(nil), u.stack[len(u.stack)-2:]...)
		u.stack = u.stack[:len(u.stack)-2]
	}
	if err != nil {
		return err
	}
	target, err := u.top()
	if err != nil {
		return err
	}
	d, ok := target.(*pyDict)
	if !ok {
		return fmt.Errorf("setitem on %s, want dict", typeName(target))
	}
	return setPairs(d, items)
}

func setPairs(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return errors.New("odd number of items for dict")
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (u *unpickler) put(n int) error {
	idx, err := u.readUint(n)
	if err != nil {
		return err
	}
	v, err := u.top()
	if err == nil {
		u.memo[uint32(idx)] = v
	}
	return err
}

func (u *unpickler) get(n int) error {
	idx, err := u.readUint(n)
	if err != nil {
		return err
	}
	v, ok := u.memo[uint32(idx)]
	if !ok {
		return fmt.Errorf("memo key %d was never stored", idx)
	}
	u.push(v)
	return nil
}

// global resolves GLOBAL's two text lines to a symbol, refusing anything not allow-listed.
func (u *unpickler) global() error {
	var parts [2]string
	for i := range parts {
		end := bytes.IndexByte(u.data[u.pos:min(len(u.data), u.pos+256)], '\n')
		if end < 0 {
			return errors.New("GLOBAL name is unterminated or longer than 256 bytes")
		}
		parts[i] = string(u.data[u.pos : u.pos+end])
		u.pos += end + 1
	}
	return u.pushGlobal(pyGlobal{parts[0], parts[1]})
}

func (u *unpickler) stackGlobal() error {
	name, err1 := u.pop()
	module, err2 := u.pop()
	m, ok1 := module.(string)
	n, ok2 := name.(string)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if !ok1 || !ok2 {
		return errors.New("STACK_GLOBAL needs two strings")
	}
	return u.pushGlobal(pyGlobal{m, n})
}

func (u *unpickler) pushGlobal(g pyGlobal) error {
	if u.hooks.allowGlobal == nil || !u.hooks.allowGlobal(g) {
		return fmt.Errorf("refusing unsupported global %s (only torch tensor rebuild functions, storage types and OrderedDict are allowed)", g)
	}
	u.push(g)
	return nil
}

func (u *unpickler) reduce() error {
	args, err1 := u.pop()
	fn, err2 := u.pop()
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	g, ok := fn.(pyGlobal)
	if !ok {
		return fmt.Errorf("REDUCE calls %s, want an allowed global", typeName(fn))
	}
	t, ok := args.(pyTuple)
	if !ok {
		return fmt.Errorf("REDUCE %s with %s arguments, want a tuple", g, typeName(args))
	}
	if u.hooks.reduce == nil {
		return fmt.Errorf("cannot call %s", g)
	}
	v, err := u.hooks.reduce(g, t)
	if err != nil {
		return fmt.Errorf("%s: %w", g, err)
	}
	u.push(v)
	return nil
}

// build implements BUILD (obj.__setstate__(state)). The only states torch.save produces are
// instance attributes of a dict subclass (an OrderedDict's _metadata) and empty states, which
// carry no tensor data, so they are checked for shape and dropped.
func (u *unpickler) build() error {
	state, err := u.pop()
	if err != nil {
		return err
	}
	obj, err := u.top()
	if err != nil {
		return err
	}
	switch s := state.(type) {
	case nil:
		return nil
	case *pyDict:
		if _, ok := obj.(*pyDict); ok || len(s.keys) == 0 {
			return nil
		}
	}
	return fmt.Errorf("BUILD of %s with state %s is not supported", typeName(obj), typeName(state))
}

func (u *unpickler) persid() error {
	pid, err := u.pop()
	if err != nil {
		return err
	}
	if u.hooks.persistentLoad == nil {
		return errors.New("persistent ids are not supported here")
	}
	v, err := u.hooks.persistentLoad(pid)
	if err != nil {
		return fmt.Errorf("persistent id: %w", err)
	}
	u.push(v)
	return nil
}
