package names

import "crypto/sha256"

// QUIC's Initial keys (RFC 9001 §5.2) come from HKDF-SHA256 over the
// connection ID and short labels: every key, message and output fits in a
// block, and these functions compute them on the stack. crypto/hkdf builds
// an HMAC, two SHA-256 states and its output on the heap for each of the
// five steps of a derivation: a tenth of the CPU time of reading genpcap's
// mix, whose QUIC flows each derive their keys (pprof). TestHKDF compares
// them with crypto/hkdf.

// hmacSHA256 returns HMAC-SHA256(key, msg) (RFC 2104) for a key of at most
// a block (64 bytes; QUIC's are 20 and 32).
func hmacSHA256(key, msg []byte) [sha256.Size]byte {
	var in [sha256.BlockSize + 64]byte
	var out [sha256.BlockSize + sha256.Size]byte
	for i := range sha256.BlockSize {
		in[i], out[i] = 0x36, 0x5c
	}
	for i, b := range key[:min(len(key), sha256.BlockSize)] {
		in[i] ^= b
		out[i] ^= b
	}
	var inner [sha256.Size]byte
	if len(msg) <= len(in)-sha256.BlockSize {
		n := copy(in[sha256.BlockSize:], msg)
		inner = sha256.Sum256(in[:sha256.BlockSize+n])
	} else {
		h := sha256.New()
		h.Write(in[:sha256.BlockSize])
		h.Write(msg)
		h.Sum(inner[:0])
	}
	copy(out[sha256.BlockSize:], inner[:])
	return sha256.Sum256(out[:])
}

// hkdfExtract is HKDF-Extract (RFC 5869) with SHA-256: the pseudorandom
// key of secret under salt.
func hkdfExtract(secret, salt []byte) [sha256.Size]byte { return hmacSHA256(salt, secret) }

// hkdfExpandLabel is TLS 1.3's HKDF-Expand-Label (RFC 8446 §7.1) with
// SHA-256 and no context, for a label of at most 40 bytes and an output of
// at most 32 (one HKDF-Expand block): out gets the first len(out) bytes.
func hkdfExpandLabel(out []byte, prk []byte, label string) {
	// HkdfLabel: length (2), "tls13 " + label (1 + n), context (1 + 0),
	// then HKDF-Expand's block counter 1.
	var info [2 + 1 + 6 + 40 + 1 + 1]byte
	info[0], info[1] = byte(len(out)>>8), byte(len(out))
	info[2] = byte(6 + len(label))
	n := 3 + copy(info[3:], "tls13 ")
	n += copy(info[n:], label)
	info[n], info[n+1] = 0, 1
	t := hmacSHA256(prk, info[:n+2])
	copy(out, t[:])
}
