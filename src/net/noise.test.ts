import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { NOISE_WRITE_BATCH_BYTES, decryptMessages, encryptMessages, noiseLeanFramingActive } from './noise.js'
import { createLibp2pTransport } from './libp2p.js'
import { protocolId } from './types.js'

type Chunk = Uint8Array | Uint8ArrayList

/** A transport-phase cipher state like noise's: chacha20-poly1305 under key k, nonce counting up from 0 (stock crypto). */
function cipherPair(k = randomBytes(32)) {
  const side = () => {
    let n = 0
    const nonce = () => { const b = new Uint8Array(12); new DataView(b.buffer).setUint32(4, n++, true); return b }
    return {
      encrypt: (p: Chunk) => defaultCrypto.chaCha20Poly1305Encrypt(p, nonce(), new Uint8Array(0), k),
      decrypt: (c: Chunk, dst?: Uint8Array) => defaultCrypto.chaCha20Poly1305Decrypt(c, nonce(), new Uint8Array(0), k, dst),
    }
  }
  return { sender: side(), receiver: side() }
}

async function* from(chunks: Chunk[]) { for (const c of chunks) yield c }
async function collect(src: AsyncIterable<Chunk>): Promise<Uint8Array> {
  const l = new Uint8ArrayList()
  for await (const c of src) l.append(c)
  return l.subarray()
}
/** Cuts `bytes` at the given offsets (each taken modulo the length): how TCP may deliver them. */
function cut(bytes: Uint8Array, at: number[]): Uint8Array[] {
  const points = [...new Set(at.map((a) => (bytes.length ? a % bytes.length : 0)))].filter((a) => a > 0).sort((x, y) => x - y)
  const out: Uint8Array[] = []
  let prev = 0
  for (const p of [...points, bytes.length]) { out.push(bytes.subarray(prev, p)); prev = p }
  return out
}

/** Stock noise's transport-phase framing (not exported by the package: loaded from its file). */
async function stockStreaming(): Promise<{ encryptStream: Function; decryptStream: Function }> {
  return import(new URL('./streaming.js', import.meta.resolve('@chainsafe/libp2p-noise')).href)
}
/** Stock noise's receive pipeline: length-prefix decoding (it-length-prefixed, u16 big-endian), then decryptStream. */
async function stockReceive(handshake: unknown, wire: Uint8Array[]): Promise<Uint8Array> {
  const { decryptStream } = await stockStreaming()
  const { decode } = await import('it-length-prefixed')
  const u16 = Object.assign((buf: Uint8ArrayList) => { if (buf.length < 2) throw new RangeError('Could not decode varint'); return buf.getUint16(0) }, { bytes: 2 })
  return collect(decryptStream(handshake)(decode(from(wire), { lengthDecoder: u16 })))
}

const payloads = fc.array(fc.uint8Array({ minLength: 0, maxLength: 140_000 }), { minLength: 1, maxLength: 4 })

describe('lean noise transport phase', () => {
  test('round-trips any plaintext however the sender chunks it and TCP cuts the ciphertext', async () => {
    await fc.assert(fc.asyncProperty(payloads, fc.array(fc.nat(), { maxLength: 12 }), async (chunks, cuts) => {
      const { sender, receiver } = cipherPair()
      const wire = await collect(encryptMessages(sender)(from(chunks)))
      const back = await collect(decryptMessages(receiver)(from(cut(wire, cuts))))
      assert.deepEqual(back, new Uint8ArrayList(...chunks).subarray())
    }), { numRuns: 40 })
  })

  test('the same bytes on the wire as stock noise, and each side reads the other (interoperable)', async () => {
    const { encryptStream } = await stockStreaming()
    await fc.assert(fc.asyncProperty(payloads, fc.array(fc.nat(), { maxLength: 8 }), async (chunks, cuts) => {
      const k = randomBytes(32)
      const a = cipherPair(k), b = cipherPair(k)
      const ours = await collect(encryptMessages(a.sender)(from(chunks)))
      const stock = await collect(encryptStream(b.sender)(from(chunks)))
      assert.deepEqual(ours, stock)
      const plain = new Uint8ArrayList(...chunks).subarray()
      assert.deepEqual(await stockReceive(a.receiver, cut(ours, cuts)), plain)
      assert.deepEqual(await collect(decryptMessages(b.receiver)(from(cut(stock, cuts)))), plain)
    }), { numRuns: 25 })
  })

  test('messages are at most 65,535 bytes (a yamux frame of 65,519 bytes is exactly one); one write per chunk up to 1 MiB', async () => {
    const { sender } = cipherPair()
    const writes: Uint8Array[] = []
    for await (const w of encryptMessages(sender)(from([new Uint8Array(65_519), new Uint8Array(200_000), new Uint8Array(3 * 1024 * 1024)]))) writes.push(w)
    const sizes = (w: Uint8Array) => { const out: number[] = []; for (let off = 0; off < w.length;) { const n = (w[off] << 8) | w[off + 1]; out.push(n); off += 2 + n } return out }
    assert.deepEqual(sizes(writes[0]), [65_535])
    assert.equal(sizes(writes[1]).length, Math.ceil(200_000 / 65_519))
    for (const w of writes) {
      assert.ok(w.length <= NOISE_WRITE_BATCH_BYTES, `a write of ${w.length} bytes`)
      for (const n of sizes(w)) assert.ok(n <= 65_535 && n >= 16)
    }
    assert.equal(writes.length, 2 + Math.ceil((3 * 1024 * 1024) / (NOISE_WRITE_BATCH_BYTES - 2 * 65_537)))
  })

  test('refuses tampered, short and truncated messages; skips empty ones as stock does', async () => {
    const { sender, receiver } = cipherPair()
    const [m1, m2] = [await collect(encryptMessages(sender)(from([new Uint8Array([1, 2, 3])]))), await collect(encryptMessages(sender)(from([new Uint8Array(5000).fill(9)])))]
    // an empty message between two good ones is skipped
    assert.deepEqual(await collect(decryptMessages(receiver)(from([m1, new Uint8Array([0, 0]), m2]))), new Uint8Array([1, 2, 3, ...new Uint8Array(5000).fill(9)]))
    const fresh = () => cipherPair().receiver
    const bad = new Uint8Array(m1); bad[5] ^= 1
    await assert.rejects(collect(decryptMessages(receiver)(from([bad]))))
    await assert.rejects(collect(decryptMessages(fresh())(from([new Uint8Array([0, 5, 1, 2, 3, 4, 5])]))), /Invalid chunk/)
    await assert.rejects(collect(decryptMessages(fresh())(from([m1.subarray(0, m1.length - 1)]))), /Unexpected end of input/)
  })

  test('is what the libp2p transport runs', async () => {
    const a = await createLibp2pTransport(), b = await createLibp2pTransport()
    try {
      const P = protocolId('test/lean', 1)
      await b.handle(P, async (s) => { for await (const f of s) await s.write(f) })
      const s = await a.dial(b.addresses()[0], P)
      await s.write(new Uint8Array([7]))
      assert.deepEqual([...await s.read({ timeoutMs: 5000 })], [7])
      assert.equal(noiseLeanFramingActive(), true)
    } finally {
      await a.stop(); await b.stop()
    }
  })
})
