/**
 * A dead chain (issue 15, failure 5): the caches cannot check payments, so they stop serving (one chunk per client at
 * risk, as the principle says), warn once, and resume when the chain answers again; stopped with the chain gone, a
 * cache says its winners stay pending instead of failing. Real roles (`cdnMarket.wire`) over the memory transport and
 * the embedded chain behind a provider that answers `ChainUnreachableError` while `down` is set (the same chain state
 * comes back), on a manual clock.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { chainFromProvider, ChainUnreachableError, createChain, type Chain } from '../../chain/index.js'
import { manualClock, systemClock } from '../../core/clock.js'
import { openDatabase } from '../../core/db.js'
import { memoryLogger } from '../../core/logger.js'
import { forkRng, seededRng } from '../../crypto/rng.js'
import { createMemoryNetwork, type Transport } from '../../net/index.js'
import { deploySouk, type SoukDeployment } from '../../payments/deploy.js'
import type { SettleReport } from '../../payments/types.js'
import type { RoleComponents } from '../market.js'
import { cdnMarket, CdnConfigSchema, type CdnCacheHandle, type CdnHandle } from './market.js'
import type { Hex } from 'viem'

let base: Chain
let chain: Chain
let dep: SoukDeployment
let down = false
before(async () => {
  base = await createChain({ kind: 'embedded', accounts: 20 })
  chain = await chainFromProvider({
    async request(a) {
      if (down) throw new ChainUnreachableError('http://127.0.0.1:1 (test: chain down)', { details: { method: a.method } })
      return base.provider.request(a)
    },
  }, { kind: 'embedded', devKeys: base.devKeys, dev: true })
  dep = await deploySouk(chain, chain.devKeys[0])
})
after(async () => { await base.close() })

const unhandled: unknown[] = []
const onUnhandled = (e: unknown) => { unhandled.push(e) }
before(() => { process.on('unhandledRejection', onUnhandled) })
after(() => { process.off('unhandledRejection', onUnhandled) })

const wall = systemClock()
async function until(pred: () => boolean, what: string, ms = 20_000) {
  const end = wall.now() + ms
  while (!pred()) {
    if (wall.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

test('a dead chain: caches stop serving after one chunk per client, warn once, resume when it is back, every chunk then paid; stopped with it gone they say their winners stay pending', async () => {
  const net = createMemoryNetwork()
  const clock = manualClock(wall.now())
  const log = memoryLogger() as ReturnType<typeof memoryLogger> & { entries: { level: string; scope: string; msg: string; fields?: Record<string, unknown> }[] }
  const handles: CdnHandle[] = []
  const transports: Transport[] = []
  const dbs: ReturnType<typeof openDatabase>[] = []
  const cfg = CdnConfigSchema.parse({ contentBytes: 4 * 1024, chunkSize: 1024, maxCaches: 2, cachesPerRequest: 2, puzzle: { pieceSize: 16 }, expectedChunks: 2_000, lateClaimDelayMs: 1_000, rounds: 1 })
  const components = (name: string, key: Hex | undefined, bootstrap: string | undefined): RoleComponents => {
    const transport = net.createTransport({ peerId: name })
    transports.push(transport)
    const logger = log.child(name)
    return {
      transport, clock, rng: forkRng(seededRng('deadchain'), name), logger, bootstrap, onEvent: () => {},
      openDb: () => { const db = openDatabase(':memory:'); dbs.push(db); return db },
      payments: key ? { scheme: 'lottery', context: { chain, deployment: dep, key, clock, rng: forkRng(seededRng('deadchain-pay'), name), logger,
        // Face value = one chunk's price: every ticket wins, so a cache holds winners when the chain goes away.
        options: { faceValueMultiplier: 0n } } } : undefined,
    }
  }
  const advance = async (ms: number, step = 250) => { for (let t = 0; t < ms; t += step) { clock.advance(Math.min(step, ms - t)); await new Promise((r) => setTimeout(r, 2)) } }
  try {
    const publisher = await cdnMarket.wire('publisher', components('publisher', chain.devKeys[1], undefined), cfg)
    handles.push(publisher)
    const publisherAddr = transports[0].addresses()[0]
    const caches: CdnCacheHandle[] = []
    for (let i = 0; i < 2; i++) {
      const h = await cdnMarket.wire('cache', components(`cache-${i}`, chain.devKeys[2 + i], publisherAddr), cfg)
      handles.push(h)
      caches.push(h)
      await h.ready
    }
    const runClients = async (names: string[], rounds: number) => {
      const hs = await Promise.all(names.map(async (n) => { const h = await cdnMarket.wire('client', components(n, undefined, publisherAddr), { ...cfg, rounds }); handles.push(h); return h }))
      await Promise.all(hs.map((h) => h.run({ signal: new AbortController().signal })))
      return hs.map((h) => h.result())
    }
    const keys = () => caches.map((c) => c.cache.stats().outerKeysReleased)
    const served = () => caches.map((c) => c.cache.stats().chunksServed)
    const paid = () => caches.map((c) => c.cache.stats().claimsPaid)
    const settled = async () => { await advance(1_500); for (const c of caches) await c.cache.drain() }

    // Up: served and paid.
    const warm = await runClients(['warm'], 2)
    assert.equal(warm[0].error, undefined)
    await settled()
    assert.deepEqual(paid(), keys(), 'every chunk paid while the chain is up')

    // Down, and the caches' short windows of cached chain reads (block 1 s, funds 2 s) over.
    down = true
    await advance(3_000)
    const [k0, s0, p0] = [keys(), served(), paid()]
    const clients = ['a', 'b', 'c']
    const r = await runClients(clients, 20)
    await settled()
    const keysDown = keys().map((k, i) => k - k0[i])
    const servedDown = served().map((s, i) => s - s0[i])
    const unpaidDown = keys().map((k, i) => k - k0[i] - (paid()[i] - p0[i]))
    console.log(`chain down: chunks served per cache ${servedDown.join(', ')}, keys released ${keysDown.join(', ')}, unpaid ${unpaidDown.join(', ')} (${clients.length} clients)`)
    for (const [i, n] of keysDown.entries()) assert.ok(n <= clients.length, `cache-${i} released ${n} keys while the chain was down: at most one chunk per client (${clients.length})`)
    for (const [i, n] of servedDown.entries()) assert.ok(n <= clients.length, `cache-${i} served ${n} chunks while the chain was down: at most one per client`)
    for (const x of r) assert.ok(x.error, 'a client that could not be served fails')
    for (const n of clients) assert.ok(log.entries.some((e) => e.scope.startsWith(n) && /cannot check payments: the chain does not answer/.test(Object.values(e.fields ?? {}).map(String).join(" "))), `client ${n} was told why`)
    for (const c of caches) assert.ok((c.cache.stats().refused['cannot check payments: the chain does not answer'] ?? 0) > 0)
    for (const i of [0, 1]) {
      const warns = log.entries.filter((e) => e.level === 'warn' && e.scope.startsWith(`cache-${i}`) && /the chain does not answer/.test(e.msg))
      assert.equal(warns.length, 1, `cache-${i} warns once, not once per chunk: ${warns.map((w) => w.msg).join(' | ')}`)
    }

    // Still down after several probes: still nothing served, no new warning.
    await advance(12_000)
    const k2 = keys()
    const later = await runClients(['f'], 1)
    assert.ok(later[0].error)
    assert.deepEqual(keys(), k2, 'nothing served while the probes find the chain still down')
    for (const i of [0, 1]) assert.equal(log.entries.filter((e) => e.level === 'warn' && e.scope.startsWith(`cache-${i}`) && /the chain does not answer/.test(e.msg)).length, 1)

    // Back: the caches find out on their clock and serve again; every chunk paid.
    down = false
    await advance(6_000)
    const [k1, p1] = [keys(), paid()]
    const back = await runClients(['d', 'e'], 3)
    await settled()
    for (const x of back) { assert.equal(x.error, undefined); assert.equal(x.sha256, warm[0].sha256) }
    const keysBack = keys().map((k, i) => k - k1[i])
    assert.ok(keysBack.every((n) => n > 0))
    assert.deepEqual(paid().map((p, i) => p - p1[i]), keysBack, 'every chunk served after the chain came back is paid')

    // Stopped with the chain gone: no exception; the winners stay pending, and it says so.
    down = true
    await advance(3_000)
    const e = await caches[0].stop()
    handles.splice(handles.indexOf(caches[0]), 1)
    const report = e.settle as SettleReport
    assert.ok(report.pending > 0, `winners held at stop: ${report.pending}`)
    assert.ok(log.entries.some((x) => x.level === 'warn' && x.scope.startsWith('cache-0') && /stay pending/.test(x.msg)), 'the cache says its winners stay pending')
    down = false
    assert.deepEqual(unhandled, [])
  } finally {
    down = false
    for (const h of handles.reverse()) await h.stop().catch(() => {})
    for (const t of transports) await t.stop().catch(() => {})
    for (const db of dbs) if (db.open) db.close()
  }
})
