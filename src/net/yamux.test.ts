import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createLibp2p, type Libp2pOptions } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { ComponentLogger, Stream, StreamMuxer } from '@libp2p/interface'
import { pushable } from 'it-pushable'
import { Uint8ArrayList } from 'uint8arraylist'
import { createLibp2pTransport } from './libp2p.js'
import { LIBP2P_STREAM_WINDOW_BYTES, YAMUX_MAX_FRAME_BYTES, tunedYamux, yamuxWindowTuningActive } from './yamux.js'

const MiB = 1024 * 1024
const silent = (() => {
  const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false })
  return { forComponent: () => log } as unknown as ComponentLogger
})()
type Muxers = NonNullable<Libp2pOptions['streamMuxers']>[number]

/**
 * Two muxers wired back to back in memory; parses the frames each sends and counts them by yamux frame type, with
 * the largest data frame (header included) and the window updates' deltas.
 */
function wire(a: StreamMuxer, b: StreamMuxer) {
  const stats = () => ({ byType: [0, 0, 0, 0], maxDataFrame: 0, grants: [] as number[] })
  const sent = { a: stats(), b: stats() }
  const tap = (src: AsyncIterable<Uint8Array | Uint8ArrayList>, st: ReturnType<typeof stats>) => (async function* () {
    const buf = new Uint8ArrayList()
    let skip = 0
    for await (const c of src) {
      yield c
      buf.append(c)
      for (;;) {
        if (skip > 0) { const n = Math.min(skip, buf.length); buf.consume(n); skip -= n; if (skip > 0) break }
        if (buf.length < 12) break
        const type = buf.get(1), length = buf.getUint32(8)
        buf.consume(12)
        st.byType[type]++
        if (type === 0) { skip = length; st.maxDataFrame = Math.max(st.maxDataFrame, 12 + length) }
        if (type === 1) st.grants.push(length)
      }
    }
  })()
  ;(a.sink(tap(b.source, sent.b)) as Promise<void>).catch(() => {})
  ;(b.sink(tap(a.source, sent.a)) as Promise<void>).catch(() => {})
  return sent
}

async function drain(s: Stream): Promise<number> {
  let n = 0
  for await (const c of s.source) n += c.byteLength
  return n
}

describe('tuned yamux', () => {
  test('refuses a window below 512 KiB or above 2^32 - 1', () => {
    assert.throws(() => tunedYamux({ windowBytes: 256 * 1024 }), RangeError)
    assert.throws(() => tunedYamux({ windowBytes: 2 ** 32 }), RangeError)
    assert.throws(() => tunedYamux({ windowBytes: 1.5 * MiB + 0.5 }), RangeError)
  })

  test('a stock sender gets a 2 MiB window and a window update per MiB read (stock: one per read); frames fit one noise message', async () => {
    let inbound!: (s: Stream) => void
    const got = new Promise<Stream>((r) => { inbound = r })
    const tunedIn = tunedYamux()({ logger: silent }).createStreamMuxer({ direction: 'inbound', onIncomingStream: (s) => inbound(s) })
    const stock = yamux()({ logger: silent }).createStreamMuxer({ direction: 'outbound' })
    const sent = wire(stock, tunedIn)
    const out = await stock.newStream()
    const total = 16 * MiB
    const data = new Uint8Array(MiB).fill(7)
    const writing = out.sink((async function* () { for (let i = 0; i < total / MiB; i++) yield data })())
    const n = await drain(await got)
    await writing
    assert.equal(n, total)
    assert.equal(yamuxWindowTuningActive(), true)
    // window updates (type 1) sent by the tuned receiver: its grant on the first read, then one per 1 MiB read
    assert.ok(sent.b.byType[1] <= total / (LIBP2P_STREAM_WINDOW_BYTES / 2) + 3, `tuned receiver sent ${sent.b.byType[1]} window updates for 16 MiB`)
    // the first grant (on the first read) raises the stock sender's window from the spec's 256 KiB to the tuned
    // window: the difference plus whatever was read already
    assert.ok(sent.b.grants[0] >= LIBP2P_STREAM_WINDOW_BYTES - 256 * 1024, `first grant ${sent.b.grants[0]}`)
    // the other way round (tuned sender, stock receiver) the transfer completes in frames of one noise message
    const stockIn = yamux()({ logger: silent }).createStreamMuxer({ direction: 'inbound', onIncomingStream: (s) => { drain(s).catch(() => {}) } })
    const tunedOut = tunedYamux()({ logger: silent }).createStreamMuxer({ direction: 'outbound' })
    const sent2 = wire(tunedOut, stockIn)
    const out2 = await tunedOut.newStream()
    await out2.sink((async function* () { for (let i = 0; i < total / MiB; i++) yield data })())
    // data frames from the tuned sender: 16 MiB in frames of at most YAMUX_MAX_FRAME_BYTES (header included)
    assert.equal(sent2.a.maxDataFrame, YAMUX_MAX_FRAME_BYTES)
    assert.equal(sent.a.maxDataFrame, 64 * 1024, 'stock yamux frames are 64 KiB: two noise messages each')
    for (const m of [stock, tunedIn, stockIn, tunedOut]) m.abort(new Error('done'))
  })

  test('a node with the tuned muxer and stock noise/yamux libp2p interoperate both ways over 127.0.0.1 (same bytes)', async () => {
    const ours = await createLibp2pTransport()
    const stock = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise() as unknown as NonNullable<Libp2pOptions['connectionEncrypters']>[number]],
      streamMuxers: [yamux() as unknown as Muxers],
    })
    const P = '/souk/test/bulk/1'
    const total = 8 * MiB
    const payload = new Uint8Array(total).map((_, i) => (i * 31) & 0xff)
    const digest = (b: Uint8Array | Uint8ArrayList) => createHash('sha256').update(b instanceof Uint8Array ? b : b.subarray()).digest('hex')
    try {
      // stock node echoes what it reads
      await stock.handle(P, ({ stream }) => { void stream.sink(stream.source) })
      // our transport sends 8 MiB in 1 MiB frames; the stock node echoes the bytes, which read back as the same frames
      const s = await ours.dial(stock.getMultiaddrs()[0].toString(), P)
      const back = new Uint8ArrayList()
      const reading = (async () => { for await (const f of s) { back.append(f); if (back.length >= total) break } })()
      for (let i = 0; i < total; i += MiB) await s.write(payload.subarray(i, i + MiB))
      await reading
      assert.equal(digest(back), digest(payload))
      await s.close()

      // and the stock node dials us: it writes raw frames that our handler reads as messages
      await ours.handle(P, async (ms) => { const got = new Uint8ArrayList(); for await (const f of ms) got.append(f); await ms.write(new TextEncoder().encode(digest(got))) })
      const cs = await stock.dialProtocol(ours.node.getMultiaddrs()[0], P)
      const out = pushable<Uint8Array>()
      void cs.sink(out)
      for (let i = 0; i < total; i += MiB) { const h = new Uint8Array(4); new DataView(h.buffer).setUint32(0, MiB); out.push(h); out.push(payload.subarray(i, i + MiB)) }
      out.end()
      const reply = new Uint8ArrayList()
      for await (const c of cs.source) reply.append(c)
      assert.equal(new TextDecoder().decode(reply.subarray(4)), digest(payload))
    } finally {
      await ours.stop(); await stock.stop()
    }
  })
})
