/**
 * The raw TCP baseline for the transport benches: plain `node:net` on 127.0.0.1, no encryption, no multiplexing,
 * no framing. Moves the same bytes in the same write sizes as the libp2p measurement it sits beside, in the same
 * run, so `libp2p / raw TCP` compares the stack with the wire it runs on.
 *
 * `encryptedTcpMBps` is the same with the noise transport phase done as thinly as JavaScript can (the ceiling for
 * any encrypted stream here).
 *
 * Run alone: `node --import tsx bench/rawtcp.ts`.
 */
import { createServer, connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'

export interface RawTcpOptions {
  /** What each connection writes, one `write` per element, in order (the bench's own chunks or frames). */
  chunks: Uint8Array[]
  /** Connections in parallel (default 1), each with its own server-side socket. */
  connections?: number
}

/**
 * Moves `connections × (bytes of chunks)` bytes from a client to a server over loopback TCP and returns MB/s
 * (10^6 bytes per second), timed from the first write until the server has read the last byte. Writes honour
 * backpressure (`drain`), as a stream transport does. Connections are opened before the clock starts.
 */
export async function rawTcpMBps(opts: RawTcpOptions): Promise<number> {
  const connections = opts.connections ?? 1
  const perConn = opts.chunks.reduce((n, c) => n + c.length, 0)
  const total = perConn * connections
  let received = 0
  let allIn!: () => void
  const done = new Promise<void>((r) => { allIn = r })
  const server = createServer((sock) => {
    sock.on('data', (b: Buffer) => { received += b.length; if (received >= total) allIn() })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  const socks: Socket[] = []
  try {
    for (let i = 0; i < connections; i++) {
      const s = connect({ host: '127.0.0.1', port, noDelay: true })
      await once(s, 'connect')
      socks.push(s)
    }
    const t0 = performance.now()
    await Promise.all(socks.map(async (s) => {
      for (const c of opts.chunks) if (!s.write(c)) await once(s, 'drain')
    }))
    await done
    const secs = (performance.now() - t0) / 1000
    if (received !== total) throw new Error(`raw tcp bench: received ${received} of ${total} bytes`)
    return total / 1e6 / secs
  } finally {
    for (const s of socks) s.destroy()
    server.close()
  }
}

/** Largest noise payload: a 65,535-byte message less its 16-byte tag. */
const NOISE_PLAINTEXT_BYTES = 65_535 - 16
const MiB = 1024 * 1024

/**
 * The ceiling for any encrypted stream in JavaScript on this machine, measured like {@link rawTcpMBps}: raw TCP
 * with the noise transport phase done as thinly as it can be (node:crypto chacha20-poly1305 per 65,519-byte
 * message, `[u16 length][ciphertext][tag]`, a 1 MiB write per frame's messages), and the receiver parsing,
 * decrypting and reassembling each 1 MiB frame as the libp2p transport hands it over. No muxer, no libp2p: what
 * is left of raw TCP once every byte is encrypted, decrypted and reassembled in one process.
 */
export async function encryptedTcpMBps(opts: { frames: number }): Promise<number> {
  const total = opts.frames * MiB
  const key = randomBytes(32), ad = Buffer.alloc(0)
  const nonce = (n: number) => { const b = Buffer.alloc(12); b.writeUInt32LE(n, 4); return b }
  let received = 0
  let allIn!: () => void, failed!: (e: unknown) => void
  const done = new Promise<void>((r, j) => { allIn = r; failed = j })
  const server = createServer((sock) => {
    let pending: Buffer = Buffer.alloc(0)
    let rn = 0
    let frame: Buffer[] = [], frameBytes = 0
    sock.on('data', (d: Buffer) => {
      try {
        pending = pending.length ? Buffer.concat([pending, d]) : d
        let off = 0
        while (pending.length - off >= 2) {
          const len = pending.readUInt16BE(off)
          if (pending.length - off < 2 + len) break
          const dec = createDecipheriv('chacha20-poly1305', key, nonce(rn++), { authTagLength: 16 })
          dec.setAAD(ad, { plaintextLength: len - 16 })
          dec.setAuthTag(pending.subarray(off + 2 + len - 16, off + 2 + len))
          const pt = dec.update(pending.subarray(off + 2, off + 2 + len - 16))
          dec.final()
          off += 2 + len
          frame.push(pt); frameBytes += pt.length
          if (frameBytes === MiB) { received += Buffer.concat(frame, frameBytes).length; frame = []; frameBytes = 0; if (received >= total) allIn() }
        }
        pending = pending.subarray(off)
      } catch (e) { failed(e) }
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  const s = connect({ host: '127.0.0.1', port, noDelay: true })
  try {
    await once(s, 'connect')
    const plain = new Uint8Array(MiB).map((_, i) => i & 0xff)
    let sn = 0
    const t0 = performance.now()
    for (let f = 0; f < opts.frames; f++) {
      const parts: Buffer[] = []
      for (let i = 0; i < MiB; i += NOISE_PLAINTEXT_BYTES) {
        const p = plain.subarray(i, Math.min(i + NOISE_PLAINTEXT_BYTES, MiB))
        const c = createCipheriv('chacha20-poly1305', key, nonce(sn++), { authTagLength: 16 })
        c.setAAD(ad, { plaintextLength: p.length })
        const ct = c.update(p); c.final()
        const head = Buffer.alloc(2); head.writeUInt16BE(ct.length + 16)
        parts.push(head, ct, c.getAuthTag())
      }
      if (!s.write(Buffer.concat(parts))) await once(s, 'drain')
    }
    await done
    const secs = (performance.now() - t0) / 1000
    if (received !== total) throw new Error(`encrypted tcp bench: received ${received} of ${total} bytes`)
    return total / 1e6 / secs
  } finally {
    s.destroy()
    server.close()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const frame = new Uint8Array(1024 * 1024).map((_, i) => i & 0xff)
  const run = async () => ({ rawTcpMBps: Math.round(await rawTcpMBps({ chunks: Array.from({ length: 64 }, () => frame) })), encryptedTcpMBps: Math.round(await encryptedTcpMBps({ frames: 64 })) })
  run().then((r) => { console.log(JSON.stringify(r)) }, (e) => { console.error(e); process.exit(1) })
}
