// Package quickxor is Microsoft's QuickXorHash, the content hash OneDrive for work or school and
// SharePoint give every file (driveItem file.hashes.quickXorHash, base64): "the only value that is
// guaranteed to be available" there (Graph's hashes resource; vendor NOTES 3a). It follows the
// algorithm Microsoft publishes (OneDrive API docs, code-snippets/quickxorhash.md): a 160-bit
// register into which each input byte is XORed at a bit position that advances by 11 per byte,
// wrapping around; the input length (little-endian int64) is XORed into the last 8 bytes at the
// end. It is part of the vendor kit (issue 13): the Microsoft emulator computes it, the OneDrive
// connector checks it.
package quickxor

import (
	"encoding/base64"
	"encoding/binary"
	"hash"
)

const (
	widthInBits   = 160
	shift         = 11
	cells         = (widthInBits-1)/64 + 1 // 3 64-bit cells
	bitsInLastCel = widthInBits % 64       // 32
	// Size is the length of a QuickXorHash in bytes.
	Size = widthInBits / 8
)

type digest struct {
	data   [cells]uint64
	length uint64
	pos    int // the bit position the next byte starts at (shiftSoFar)
}

// New returns a hash.Hash computing QuickXorHash.
func New() hash.Hash { return &digest{} }

// Sum returns the QuickXorHash of b.
func Sum(b []byte) [Size]byte {
	d := &digest{}
	d.Write(b)
	var out [Size]byte
	copy(out[:], d.Sum(nil))
	return out
}

// Base64 returns the QuickXorHash of b as Graph writes it (standard base64 with padding).
func Base64(b []byte) string {
	s := Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func (d *digest) Size() int      { return Size }
func (d *digest) BlockSize() int { return 64 }
func (d *digest) Reset()         { *d = digest{} }

// Write folds p into the register. Byte k of p lands at bit (pos + 11k) mod 160; bytes 160 apart
// land on the same bit, so they are XORed together first.
func (d *digest) Write(p []byte) (int, error) {
	idx, off := d.pos/64, d.pos%64
	for i := 0; i < min(len(p), widthInBits); i++ {
		last := idx == cells-1
		bits := 64
		if last {
			bits = bitsInLastCel
		}
		var x byte
		for j := i; j < len(p); j += widthInBits {
			x ^= p[j]
		}
		d.data[idx] ^= uint64(x) << off
		if off > bits-8 { // the byte straddles two cells
			next := idx + 1
			if last {
				next = 0
			}
			d.data[next] ^= uint64(x) >> (bits - off)
		}
		off += shift
		for off >= bits {
			if last {
				idx = 0
			} else {
				idx++
			}
			off -= bits
			last = idx == cells-1
			bits = 64
			if last {
				bits = bitsInLastCel
			}
		}
	}
	d.pos = (d.pos + shift*(len(p)%widthInBits)) % widthInBits
	d.length += uint64(len(p))
	return len(p), nil
}

// Sum appends the hash to b without changing the state.
func (d *digest) Sum(b []byte) []byte {
	var out [cells * 8]byte
	for i, c := range d.data {
		binary.LittleEndian.PutUint64(out[i*8:], c)
	}
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], d.length)
	for i := range l {
		out[Size-8+i] ^= l[i]
	}
	return append(b, out[:Size]...)
}
