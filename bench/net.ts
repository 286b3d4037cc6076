/**
 * Transport throughput: 64 MiB in 1 MiB frames, one stream, over libp2p (TCP + noise + yamux on 127.0.0.1) and
 * over the memory transport with no latency and unlimited bandwidth (the baseline, measured in the same run).
 *
 * Run alone: `node --import tsx bench/net.ts`.
 */
import { pathToFileURL } from 'node:url'
import { createLibp2pTransport, createMemoryNetwork, protocolId, type Transport } from '../src/net/index.js'

const MiB = 1024 * 1024
const TOTAL_BYTES = 64 * MiB
const FRAME_BYTES = MiB
const BENCH = protocolId('bench/sink', 1)

/** Sends TOTAL_BYTES from `a` to `b` and returns MB/s (10^6 bytes per second), timed until the last byte is read. */
async function throughput(a: Transport, b: Transport): Promise<number> {
  let received = 0
  let resolve!: () => void, reject!: (e: unknown) => void
  const done = new Promise<void>((a, b) => { resolve = a; reject = b })
  await b.handle(BENCH, async (s) => {
    try {
      for await (const f of s) received += f.length
      resolve()
    } catch (e) { reject(e) }
  })
  const frame = new Uint8Array(FRAME_BYTES).map((_, i) => i & 0xff)
  // warm-up: open a connection and a stream first, so the figure is streaming, not handshakes
  const s = await a.dial(b.addresses()[0], BENCH)
  const t0 = performance.now()
  for (let sent = 0; sent < TOTAL_BYTES; sent += FRAME_BYTES) await s.write(frame)
  await s.close()
  await done
  const secs = (performance.now() - t0) / 1000
  if (received !== TOTAL_BYTES) throw new Error(`bench: received ${received} of ${TOTAL_BYTES} bytes`)
  return TOTAL_BYTES / 1e6 / secs
}

/** Returns `{ libp2pMBps, memoryMBps, libp2pVsMemory }` from one run. */
export async function benchNet(): Promise<Record<string, number>> {
  const net = createMemoryNetwork()
  const ma = net.createTransport(), mb = net.createTransport()
  const memoryMBps = await throughput(ma, mb)
  await ma.stop(); await mb.stop()

  const la = await createLibp2pTransport(), lb = await createLibp2pTransport()
  try {
    const libp2pMBps = await throughput(la, lb)
    return { libp2pMBps: round(libp2pMBps), memoryMBps: round(memoryMBps), libp2pVsMemory: round(libp2pMBps / memoryMBps, 3) }
  } finally {
    await la.stop(); await lb.stop()
  }
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits))

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchNet().then((r) => { console.log(JSON.stringify(r)) }, (e) => { console.error(e); process.exit(1) })
}
