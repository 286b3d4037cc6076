/**
 * Transport throughput: 64 MiB in 1 MiB frames, one stream, over libp2p (TCP + noise + yamux on 127.0.0.1), over
 * raw TCP on 127.0.0.1 (node:net, the same 64 MiB in the same 1 MiB writes: the wire under libp2p) and over the
 * memory transport with no latency and unlimited bandwidth, all measured in the same run. `encryptedTcpMBps` is
 * raw TCP with the noise transport phase done as thinly as JavaScript can (bench/rawtcp.ts): the ceiling for any
 * encrypted stream on this machine, so `libp2pToEncryptedTcp` says how much of it the libp2p stack keeps.
 *
 * libp2p and raw TCP are measured in 5 alternating pairs (order flipped every other pair); each figure is the
 * median of its runs and `libp2pToRawTcp` the median of the pairs' ratios, which a burst of load on the shared
 * cores moves far less than a single run.
 *
 * Run alone: `node --import tsx bench/net.ts`.
 */
import { pathToFileURL } from 'node:url'
import { createLibp2pTransport, createMemoryNetwork, protocolId, type Transport } from '../src/net/index.js'
import { encryptedTcpMBps, rawTcpMBps } from './rawtcp.js'

const MiB = 1024 * 1024
const TOTAL_BYTES = 64 * MiB
const FRAME_BYTES = MiB
const PAIRS = 5
const BENCH = protocolId('bench/sink', 1)

/** Sends TOTAL_BYTES from `a` to `b` on a new stream and returns MB/s (10^6 bytes per second), timed until the last byte is read. */
async function throughput(a: Transport, b: Transport, frame: Uint8Array): Promise<number> {
  let received = 0
  let resolve!: () => void, reject!: (e: unknown) => void
  const done = new Promise<void>((a, b) => { resolve = a; reject = b })
  await b.handle(BENCH, async (s) => {
    try {
      for await (const f of s) received += f.length
      resolve()
    } catch (e) { reject(e) }
  })
  // warm-up: open the connection and the stream first, so the figure is streaming, not handshakes
  const s = await a.dial(b.addresses()[0], BENCH)
  const t0 = performance.now()
  for (let sent = 0; sent < TOTAL_BYTES; sent += FRAME_BYTES) await s.write(frame)
  await s.close()
  await done
  const secs = (performance.now() - t0) / 1000
  await b.unhandle(BENCH)
  if (received !== TOTAL_BYTES) throw new Error(`bench: received ${received} of ${TOTAL_BYTES} bytes`)
  return TOTAL_BYTES / 1e6 / secs
}

const median = (xs: number[]) => { const a = [...xs].sort((x, y) => x - y); return a[a.length >> 1] }

/** Returns `{ libp2pMBps, memoryMBps, libp2pVsMemory, rawTcpMBps, libp2pToRawTcp, encryptedTcpMBps, libp2pToEncryptedTcp }` from one run. */
export async function benchNet(): Promise<Record<string, number>> {
  const frame = new Uint8Array(FRAME_BYTES).map((_, i) => i & 0xff)
  const net = createMemoryNetwork()
  const ma = net.createTransport(), mb = net.createTransport()
  const memoryMBps = await throughput(ma, mb, frame)
  await ma.stop(); await mb.stop()

  const rawChunks = Array.from({ length: TOTAL_BYTES / FRAME_BYTES }, () => frame)
  const la = await createLibp2pTransport(), lb = await createLibp2pTransport()
  try {
    await throughput(la, lb, frame); await rawTcpMBps({ chunks: rawChunks }) // warm-up
    const p2p: number[] = [], raw: number[] = [], ratios: number[] = [], enc: number[] = [], encRatios: number[] = []
    const frames = TOTAL_BYTES / FRAME_BYTES
    for (let k = 0; k < PAIRS; k++) {
      let l: number, r: number, e: number
      if (k % 2 === 0) { l = await throughput(la, lb, frame); r = await rawTcpMBps({ chunks: rawChunks }); e = await encryptedTcpMBps({ frames }) } else { e = await encryptedTcpMBps({ frames }); r = await rawTcpMBps({ chunks: rawChunks }); l = await throughput(la, lb, frame) }
      p2p.push(l); raw.push(r); ratios.push(l / r); enc.push(e); encRatios.push(l / e)
    }
    const libp2pMBps = median(p2p)
    return {
      libp2pMBps: round(libp2pMBps), memoryMBps: round(memoryMBps), libp2pVsMemory: round(libp2pMBps / memoryMBps, 3),
      rawTcpMBps: round(median(raw)), libp2pToRawTcp: round(median(ratios), 3),
      encryptedTcpMBps: round(median(enc)), libp2pToEncryptedTcp: round(median(encRatios), 3),
    }
  } finally {
    await la.stop(); await lb.stop()
  }
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits))

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchNet().then((r) => { console.log(JSON.stringify(r)) }, (e) => { console.error(e); process.exit(1) })
}
