/**
 * Soak (issue 15, bounded state): a publisher, a cache and a stream of clients in one process on the memory
 * transport, the embedded chain, 1 KiB chunks (so the per-chunk state dominates, not the bytes), one chunk per
 * bundle, 60 s of the roles' manual clock per client round (orders, bundles and served requests expire as on a
 * live node). It runs until 10^6 chunks were delivered and paid or `SOUK_SOAK_SECONDS` (default 120) of wall time
 * passed, and samples the heap after a full GC. Figures (bench/results/soak.json): chunks, heap and RSS at the start
 * (after a warm-up), half way and at the end, growth per 1,000 chunks over the run and over its second half (after
 * the bounded caches filled: the lottery payee keeps its last 1,024 retired rands, ~3.5 KB each). A flat heap is growth near 0; the first tranche's code
 * grew 6.3 KB per bundle (docs/cdn.md § Bounded state).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createChain } from '../src/chain/index.js'
import { manualClock } from '../src/core/clock.js'
import { openDatabase } from '../src/core/db.js'
import { silentLogger } from '../src/core/logger.js'
import { forkRng, seededRng } from '../src/crypto/rng.js'
import { createMemoryNetwork } from '../src/net/index.js'
import { deploySouk } from '../src/payments/deploy.js'
import type { RoleComponents } from '../src/services/market.js'
import { CdnConfigSchema, cdnMarket } from '../src/services/cdn/market.js'
import type { Hex } from 'viem'

setFlagsFromString('--expose_gc')
const gc = runInNewContext('gc') as () => void
const MiB = 1024 * 1024
const heap = () => { gc(); gc(); return process.memoryUsage() }

export async function benchSoak(o: { log?: (s: string) => void; seconds?: number; maxChunks?: number } = {}): Promise<Record<string, number>> {
  const seconds = o.seconds ?? Number(process.env.SOUK_SOAK_SECONDS ?? 120)
  const maxChunks = o.maxChunks ?? 1_000_000
  const chain = await createChain({ kind: 'embedded', accounts: 4, seed: 'soak' })
  const dep = await deploySouk(chain, chain.devKeys[0])
  const net = createMemoryNetwork()
  const clock = manualClock(Date.now())
  const logger = silentLogger()
  const rng = seededRng('soak')
  const contentBytes = 64 * 1024
  const cfg = CdnConfigSchema.parse({ contentBytes, chunkSize: 1024, maxCaches: 1, cachesPerRequest: 1, puzzle: { pieceSize: 16 }, expectedChunks: 2_000_000, lateClaimDelayMs: 1_000, rounds: 1 })
  const dbs: ReturnType<typeof openDatabase>[] = []
  // Paid roles keep their payment state in SQLite files, as `souk node` does (`<data-dir>/payments.sqlite`): the
  // memory stores of tests keep every winner and rand for the life of the process.
  const dataDir = mkdtempSync(join(tmpdir(), 'souk-soak-'))
  const components = (name: string, key: Hex | undefined, bootstrap?: string): RoleComponents => ({
    transport: net.createTransport({ peerId: name }), clock, rng: forkRng(rng, name), logger, bootstrap, onEvent: () => {},
    openDb: () => { const db = openDatabase(':memory:'); dbs.push(db); return db },
    payments: key ? { scheme: 'lottery', context: { chain, deployment: dep, key, storePath: join(dataDir, `${name}-payments.sqlite`), clock, rng: forkRng(rng, `${name}:pay`), logger } } : undefined,
  })
  const [, pubKey, cacheKey] = chain.devKeys
  const publisher = await cdnMarket.wire('publisher', components('publisher', pubKey), cfg)
  const cache = await cdnMarket.wire('cache', components('cache', cacheKey, 'publisher'), cfg)
  await cache.ready
  // The cache runs as on a node: it redeems as it goes (every settleEveryMs of the manual clock).
  const stopCache = new AbortController()
  const cacheRun = cache.run({ signal: stopCache.signal })
  const chunksPerClient = contentBytes / 1024
  let chunks = 0, clients = 0
  const round = async () => {
    const comp = components(`client-${clients++}`, undefined, 'publisher')
    const c = await cdnMarket.wire('client', comp, cfg)
    await c.run({ signal: new AbortController().signal })
    if (c.result().error) throw new Error(`soak client failed: ${c.result().error}`)
    await c.stop()
    await comp.transport.stop() // the runner owns the transport (as src/node and the scenario do)
    chunks += chunksPerClient
    await cache.cache.drain() // every claim answered before the clock moves on (time is compressed here)
    for (let t = 0; t < 60_000; t += 10_000) { clock.advance(10_000); await new Promise((r) => setTimeout(r, 1)) }
  }
  for (let i = 0; i < 20; i++) await round() // warm-up: caches, JIT, the first expiries
  const start = heap()
  const startChunks = chunks
  const t0 = performance.now()
  let lastLog = t0
  let mid: { heap: NodeJS.MemoryUsage; chunks: number } | undefined
  while (chunks - startChunks < maxChunks && performance.now() - t0 < seconds * 1000) {
    await round()
    if (!mid && (chunks - startChunks >= maxChunks / 2 || performance.now() - t0 >= (seconds * 1000) / 2)) mid = { heap: heap(), chunks }
    if (performance.now() - lastLog > 10_000) { lastLog = performance.now(); o.log?.(`${chunks - startChunks} chunks, heap ${(process.memoryUsage().heapUsed / MiB).toFixed(1)} MiB`) }
  }
  const elapsed = (performance.now() - t0) / 1000
  for (let t = 0; t < 10 * 60_000; t += 10_000) { clock.advance(10_000); await new Promise((r) => setTimeout(r, 1)) } // let every order expire
  const end = heap()
  const soakChunks = chunks - startChunks
  const paid = publisher.publisher.stats().claimsPaid
  stopCache.abort(); await cacheRun
  await cache.stop(); await publisher.stop(); await chain.close()
  for (const d of dbs) if (d.open) d.close()
  rmSync(dataDir, { recursive: true, force: true })
  return {
    soakChunks,
    soakSeconds: Number(elapsed.toFixed(1)),
    chunksPerSecond: Math.round(soakChunks / elapsed),
    chunksPaid: paid,
    chunksDelivered: chunks,
    heapStartMiB: Number((start.heapUsed / MiB).toFixed(1)),
    heapEndMiB: Number((end.heapUsed / MiB).toFixed(1)),
    heapGrowthBytesPer1kChunks: Math.round(((end.heapUsed - start.heapUsed) / soakChunks) * 1000),
    // The second half only: bounded caches (the lottery payee keeps its last 1,024 retired rands) are full by then.
    heapMidMiB: Number(((mid?.heap.heapUsed ?? start.heapUsed) / MiB).toFixed(1)),
    heapGrowthSecondHalfBytesPer1kChunks: mid ? Math.round(((end.heapUsed - mid.heap.heapUsed) / (chunks - mid.chunks)) * 1000) : 0,
    rssStartMiB: Number((start.rss / MiB).toFixed(1)),
    rssEndMiB: Number((end.rss / MiB).toFixed(1)),
  }
}
