package libws

// Senders that encode one message once for many connections (a hub's
// publish to a topic) need to know whether a connection's next frame
// depends on anything but the message: with context takeover it does (the
// compressor's window holds earlier messages), without it the compressed
// bytes depend on the level alone, so one encoding serves every
// connection that negotiated the same level.

// SharedCompression reports how p compresses the data messages it sends.
// shareable is false when p compresses with context takeover: each of its
// frames must then be encoded by p itself (AppendFrame). Otherwise level is
// the flate level of its messages of threshold bytes or more, or 0 when p
// sends every message uncompressed.
func (p *Protocol) SharedCompression() (level, threshold int, shareable bool) {
	d := p.deflate
	if d == nil || !d.compressOut {
		return 0, 0, true
	}
	if d.takeoverOut {
		return 0, 0, false
	}
	return d.level, d.threshold, true
}

// CompressShared compresses payload as a Protocol that SharedCompression
// reported shareable at level does: the result is the payload of a frame
// with Rsv1 set, in memory of its own; nil for an empty payload.
func CompressShared(payload []byte, level int) []byte {
	d := deflateState{level: level, threshold: 1, compressOut: true}
	return d.compress(payload) // in d.compressed, this call's own buffer
}
