import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { manualClock } from '../core/clock.js'
import { createMemoryNetwork, MEMORY_RECEIVE_WINDOW_BYTES, type MemoryNetwork } from './memory.js'
import { runTransportCompliance } from './transport.compliance.js'
import { DialError, StreamClosedError, TimeoutError } from './errors.js'
import { protocolId, type Transport } from './types.js'

let net: MemoryNetwork = createMemoryNetwork()
let made: Transport[] = []
runTransportCompliance('memory', {
  async setup(opts) { const t = net.createTransport(opts); made.push(t); return t },
  async teardown() { for (const t of made) await t.stop(); made = []; net = createMemoryNetwork() },
  async vanish(t) { net.disconnect(t.peerId) },
})

const P = protocolId('test/mem', 1)
const flush = () => new Promise((r) => setImmediate(r))
function track<T>(p: Promise<T>) {
  const s = { done: false, value: undefined as T | undefined, error: undefined as unknown }
  p.then((v) => { s.done = true; s.value = v }, (e) => { s.done = true; s.error = e })
  return s
}

describe('memory network', () => {
  test('latency and bandwidth on a manual clock', async () => {
    const clock = manualClock(0)
    const net = createMemoryNetwork({ latencyMs: 100, bandwidthBytesPerSec: 1000, clock })
    const a = net.createTransport({ peerId: 'a' }), b = net.createTransport({ peerId: 'b' })
    const got: { at: number; len: number }[] = []
    await b.handle(P, async (s) => { for await (const f of s) got.push({ at: clock.now(), len: f.length }) })
    const dial = track(a.dial('/memory/b', P))
    await flush()
    assert.equal(dial.done, false, 'a dial takes one latency')
    clock.advance(100); await flush()
    assert.ok(dial.done && dial.value)
    const s = dial.value!
    const w1 = track(s.write(new Uint8Array(500))) // transmits 100..600, arrives 700
    await flush()
    assert.equal(w1.done, false, 'write resolves when transmitted')
    const w2 = track(s.write(new Uint8Array(250))) // queued behind: transmits 600..850, arrives 950
    clock.advance(499); await flush() // t=599
    assert.equal(w1.done, false)
    clock.advance(1); await flush() // t=600
    assert.equal(w1.done, true)
    assert.equal(got.length, 0)
    clock.advance(99); await flush() // t=699
    assert.equal(got.length, 0)
    clock.advance(1); await flush() // t=700
    assert.deepEqual(got, [{ at: 700, len: 500 }])
    clock.advance(249); await flush() // t=949
    assert.equal(got.length, 1)
    assert.equal(w2.done, true)
    clock.advance(1); await flush() // t=950
    assert.deepEqual(got[1], { at: 950, len: 250 })
    // read timeouts run on the same clock
    const r = track(s.read({ timeoutMs: 1000 }))
    clock.advance(999); await flush()
    assert.equal(r.done, false)
    clock.advance(1); await flush()
    assert.ok(r.error instanceof TimeoutError)
  })

  test('seeded loss drops the expected share of frames, reproducibly', async () => {
    const run = async (seed: number) => {
      const net = createMemoryNetwork({ lossRate: 0.3, seed })
      const a = net.createTransport(), b = net.createTransport()
      const got: number[] = []
      const done = new Promise<void>((resolve) => b.handle(P, async (s) => { for await (const f of s) got.push(new DataView(f.buffer, f.byteOffset).getUint32(0)); resolve() }))
      const s = await a.dial(b.peerId, P)
      const N = 4000
      for (let i = 0; i < N; i++) { const f = new Uint8Array(4); new DataView(f.buffer).setUint32(0, i); await s.write(f) }
      await s.close()
      await done
      assert.deepEqual(net.stats().framesDropped + got.length, N)
      assert.ok(got.every((v, i) => i === 0 || v > got[i - 1]), 'survivors arrive in order')
      return got
    }
    const g1 = await run(7)
    const kept = g1.length / 4000
    // binomial(4000, 0.7): sd ~ 0.0072; 4 sd either side
    assert.ok(Math.abs(kept - 0.7) < 0.03, `kept ${kept}`)
    assert.deepEqual(await run(7), g1, 'same seed, same losses')
    assert.notDeepEqual(await run(8), g1, 'another seed, other losses')
  })

  test('a writer waits while the receiver holds a full window', async () => {
    const net = createMemoryNetwork()
    const a = net.createTransport(), b = net.createTransport()
    let stream: import('./types.js').MessageStream | undefined
    const hold = new Promise<void>(() => {})
    await b.handle(P, async (s) => { stream = s; await hold })
    const s = await a.dial(b.peerId, P)
    const MiB = 1024 * 1024
    const n = MEMORY_RECEIVE_WINDOW_BYTES / MiB
    for (let i = 0; i < n; i++) await s.write(new Uint8Array(MiB))
    const w = track(s.write(new Uint8Array(MiB)))
    await flush(); await flush()
    assert.equal(w.done, false, 'blocked on a full window')
    await flush()
    await stream!.read()
    await flush(); await flush()
    assert.equal(w.done, true)
    await a.stop(); await b.stop()
  })

  test('disconnect, reconnect, partition and heal', async () => {
    const net = createMemoryNetwork()
    const [a, b, c] = [net.createTransport({ peerId: 'a' }), net.createTransport({ peerId: 'b' }), net.createTransport({ peerId: 'c' })]
    for (const t of [a, b, c]) await t.handle(P, async (s) => { for await (const f of s) await s.write(f) })
    const s = await a.dial('b', P)
    net.disconnect('b')
    await assert.rejects(s.read(), (e: unknown) => e instanceof StreamClosedError && e.reason === 'disconnected')
    await assert.rejects(a.dial('b', P), DialError)
    net.reconnect('b')
    await (await a.dial('b', P)).close()
    const ac = await a.dial('c', P)
    net.partition(['a'], ['b', 'c'])
    await assert.rejects(ac.write(new Uint8Array(1)), StreamClosedError)
    await assert.rejects(a.dial('c', P), DialError)
    const bc = await b.dial('c', P) // same side of the partition
    await bc.write(new Uint8Array([1]))
    assert.deepEqual([...await bc.read()], [1])
    net.heal()
    await (await a.dial('c', P)).close()
    await assert.rejects(a.dial('nobody', P), DialError)
    assert.throws(() => net.createTransport({ peerId: 'a' }), TypeError)
    assert.deepEqual(net.peers().sort(), ['a', 'b', 'c'])
  })

  test('rejects bad options', () => {
    assert.throws(() => createMemoryNetwork({ lossRate: 1 }), RangeError)
    assert.throws(() => createMemoryNetwork({ bandwidthBytesPerSec: 0 }), RangeError)
    assert.throws(() => createMemoryNetwork({ latencyMs: -1 }), RangeError)
  })
})

test('memory network: a stopped peer leaves no per-link state behind (long runs with churn stay bounded)', async () => {
  const net = createMemoryNetwork({ latencyMs: 1 })
  const server = net.createTransport({ peerId: 'server' })
  const ECHO = protocolId('churn-echo', 1)
  await server.handle(ECHO, async (s) => { for await (const f of s) await s.write(f) })
  const links = () => (net as unknown as { linkCount(): number }).linkCount()
  for (let i = 0; i < 50; i++) {
    const c = net.createTransport({ peerId: `c${i}` })
    const s = await c.dial('server', ECHO)
    await s.write(new Uint8Array([i]))
    await s.read({ timeoutMs: 5000 })
    await c.stop()
  }
  await new Promise((r) => setTimeout(r, 20))
  assert.ok(links() <= 2, `${links()} links held after 50 peers came and went`)
  await server.stop()
})

test('memory network: a latency matrix per pair, and jitter that never reorders a link', async () => {
  const { createEngine } = await import('../sim/engine.js')
  const engine = createEngine()
  const region: Record<string, string> = { a: 'eu', b: 'eu', c: 'us' }
  const matrix: Record<string, number> = { 'eu-eu': 10, 'eu-us': 80, 'us-eu': 80, 'us-us': 5 }
  const net = createMemoryNetwork({ clock: engine.clock, latency: (f, t) => matrix[`${region[f]}-${region[t]}`], jitterMs: 7, seed: 3 })
  const a = net.createTransport({ peerId: 'a' }), b = net.createTransport({ peerId: 'b' }), c = net.createTransport({ peerId: 'c' })
  const got: Record<string, { at: number; n: number }[]> = { b: [], c: [] }
  for (const [t, name] of [[b, 'b'], [c, 'c']] as const) await t.handle(P, async (s) => { for await (const f of s) got[name].push({ at: engine.now(), n: f[0] }) })
  const run = engine.run()
  const [sb, sc] = await Promise.all([a.dial('b', P), a.dial('c', P)])
  const opened = engine.now()
  for (let i = 0; i < 50; i++) { await sb.write(Uint8Array.of(i)); await sc.write(Uint8Array.of(i)) }
  await sb.close(); await sc.close()
  await run
  assert.deepEqual(got.b.map((x) => x.n), [...Array(50).keys()], 'in order on a jittered link')
  assert.deepEqual(got.c.map((x) => x.n), [...Array(50).keys()])
  for (const x of got.b) assert.ok(x.at - opened >= 10 && x.at - opened < 10 + 7 + 1e-9, `eu-eu frame at +${x.at - opened}`)
  for (const x of got.c) assert.ok(x.at - opened >= 80 && x.at - opened < 80 + 7 + 1e-9, `eu-us frame at +${x.at - opened}`)
  assert.ok(new Set(got.b.map((x) => x.at)).size > 1, 'jitter spreads arrivals')
  for (let i = 1; i < got.b.length; i++) assert.ok(got.b[i].at >= got.b[i - 1].at)
  assert.throws(() => createMemoryNetwork({ jitterMs: -1 }), RangeError)
})
