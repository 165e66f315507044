package names

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// TestHKDF: the stack HMAC and HKDF give crypto/hmac's and crypto/hkdf's
// bytes, for keys, messages, labels and lengths of every size QUIC uses and
// beyond (messages longer than a block).
func TestHKDF(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	bytesOf := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	for range 2000 {
		key, msg := bytesOf(rnd.IntN(65)), bytesOf(rnd.IntN(200))
		m := hmac.New(sha256.New, key)
		m.Write(msg)
		if got := hmacSHA256(key, msg); !bytes.Equal(got[:], m.Sum(nil)) {
			t.Fatalf("HMAC key %x msg %x: %x, crypto/hmac %x", key, msg, got, m.Sum(nil))
		}
		salt, secret := bytesOf(rnd.IntN(65)), bytesOf(rnd.IntN(21))
		want, _ := hkdf.Extract(sha256.New, secret, salt)
		prk := hkdfExtract(secret, salt)
		if !bytes.Equal(prk[:], want) {
			t.Fatalf("Extract: %x, crypto/hkdf %x", prk, want)
		}
		label := string(bytesOf(rnd.IntN(41)))
		out := make([]byte, 1+rnd.IntN(32))
		hkdfExpandLabel(out, prk[:], label)
		info := append([]byte{byte(len(out) >> 8), byte(len(out)), byte(6 + len(label))}, "tls13 "+label...)
		info = append(info, 0)
		exp, _ := hkdf.Expand(sha256.New, prk[:], string(info), len(out))
		if !bytes.Equal(out, exp) {
			t.Fatalf("Expand-Label %q %d: %x, crypto/hkdf %x", label, len(out), out, exp)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		var k quicKeys
		prk := hkdfExtract([]byte("8394c8f03e515708"), []byte("salt"))
		hkdfExpandLabel(k.iv[:], prk[:], "quic iv")
	}); n != 0 {
		t.Errorf("%v allocations per derivation step", n)
	}
}
