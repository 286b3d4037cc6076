/**
 * The raw TCP baseline for the transport benches: plain `node:net` on 127.0.0.1, no encryption, no multiplexing,
 * no framing. Moves the same bytes in the same write sizes as the libp2p measurement it sits beside, in the same
 * run, so `libp2p / raw TCP` compares the stack with the wire it runs on.
 *
 * Run alone: `node --import tsx bench/rawtcp.ts`.
 */
import { createServer, connect, type Socket } from 'node:net'
import { once } from 'node:events'
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

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const frame = new Uint8Array(1024 * 1024).map((_, i) => i & 0xff)
  rawTcpMBps({ chunks: Array.from({ length: 64 }, () => frame) }).then((r) => { console.log(JSON.stringify({ rawTcpMBps: Math.round(r * 10) / 10 })) }, (e) => { console.error(e); process.exit(1) })
}
