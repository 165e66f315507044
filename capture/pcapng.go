package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// maxNgBlock is the largest pcapng block accepted (Wireshark's limit).
const maxNgBlock = 16 << 20

// NgBlockError is a pcapng block whose framing is wrong: a block length
// that cannot be, or a trailing length that differs from the leading one.
type NgBlockError struct {
	Offset int64 // byte offset of the block (uncompressed)
	Msg    string
}

func (e *NgBlockError) Error() string {
	return fmt.Sprintf("pcapng block at byte offset %d: %s", e.Offset, e.Msg)
}

// ngChecker passes a pcapng stream through unchanged while it checks each
// block's framing, which pcapgo does not: the leading block length must be
// at least 12, a multiple of 4 and at most 16 MiB, and the trailing length
// must repeat it. The bytes before a bad block pass, then the error; a
// stream that ends inside a well-framed block is left to the reader to
// report as truncated.
type ngChecker struct {
	r      *bufio.Reader
	off    int64 // bytes passed on so far
	start  int64 // offset of the current block
	rem    int64 // bytes of the current block still to pass, trailing length included
	length uint32
	order  binary.ByteOrder
	err    error
}

func newNgChecker(r *bufio.Reader) *ngChecker {
	return &ngChecker{r: r, order: binary.LittleEndian}
}

func (c *ngChecker) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.rem == 0 {
		if err := c.begin(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if c.rem == 4 && c.length != 0 {
		if t, err := c.r.Peek(4); err == nil {
			if got := c.order.Uint32(t); got != c.length {
				c.err = &NgBlockError{c.start, fmt.Sprintf("trailing block length %d does not match the leading block length %d", got, c.length)}
				return 0, c.err
			}
		}
	}
	n := int64(len(p))
	if c.rem > 4 && n > c.rem-4 {
		n = c.rem - 4 // stop before the trailer, to check it
	} else if n > c.rem {
		n = c.rem
	}
	m, err := c.r.Read(p[:n])
	c.off += int64(m)
	c.rem -= int64(m)
	return m, err
}

// begin reads the next block's header.
func (c *ngChecker) begin() error {
	c.start = c.off
	h, err := c.r.Peek(12)
	if len(h) == 0 {
		if err == nil {
			err = io.EOF
		}
		return err
	}
	if len(h) < 12 {
		// A header cut by the end of the file: the reader says truncated.
		c.rem, c.length = int64(len(h)), 0
		return nil
	}
	if binary.LittleEndian.Uint32(h) == 0x0a0d0d0a { // section header: its byte order
		switch binary.LittleEndian.Uint32(h[8:]) {
		case 0x1a2b3c4d:
			c.order = binary.LittleEndian
		case 0x4d3c2b1a:
			c.order = binary.BigEndian
		default:
			return &NgBlockError{c.start, fmt.Sprintf("section header with a bad byte-order magic %#08x", binary.BigEndian.Uint32(h[8:]))}
		}
	}
	n := c.order.Uint32(h[4:])
	switch {
	case n < 12 || n%4 != 0:
		return &NgBlockError{c.start, fmt.Sprintf("invalid block length %d (a block is at least 12 bytes and a multiple of 4)", n)}
	case n > maxNgBlock:
		return &NgBlockError{c.start, fmt.Sprintf("block length %d exceeds the 16 MiB limit", n)}
	}
	c.rem, c.length = int64(n), n
	return nil
}
