/**
 * The long-running peer: wires one CDN role (publisher, cache or client) to libp2p, a chain over JSON-RPC, the
 * payment scheme's SQLite store, and a chunk store, then reports what it does as events (the CLI prints them as
 * JSON lines so a testnet parent can draw progress and a summary). Stops cleanly on `signal`: a cache drains its
 * claims and redeems every winning ticket before returning.
 *
 * @example
 * ```ts
 * import { runPeer } from './peer.js'
 * await runPeer({ role: 'cache', rpcUrl: 'http://127.0.0.1:8545', deploymentPath: 'testnet/deployment.json',
 *   key, bootstrap: '/ip4/127.0.0.1/tcp/4001/p2p/12D3…', dataDir: 'testnet/cache-0' }, { report: console.log, signal })
 * ```
 */
import { createHash } from 'node:crypto'
import type { SoukDeployment } from '../payments/deploy.js'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Hex } from 'viem'
import { z } from 'zod'
import { createChain } from '../chain/chain.js'
import { systemClock } from '../core/clock.js'
import { openDatabase } from '../core/db.js'
import { silentLogger, type Logger } from '../core/logger.js'
import { createLibp2pTransport } from '../net/index.js'
import { createPayee, createPayer, fundPayer, schemeByName, schemeEnum } from '../payments/index.js'
import { createMutex } from '../exchange/index.js'
import { createPublisher, createCache, createClient, sqliteChunkStore, type CdnEvent } from '../services/cdn/index.js'
import { CDN_DEFAULT_DEPOSIT, CDN_DEFAULT_PRICE_PER_CHUNK, CDN_DEFAULT_RESERVE } from '../services/cdn/scenario.js'
import { CAPNET_DEFAULT_PARAMS, systemRng } from '../proofs/capnet/index.js'
import { forkRng } from '../crypto/rng.js'

export const PeerConfigSchema = z.object({
  role: z.enum(['publisher', 'cache', 'client']),
  name: z.string().default('peer'),
  rpcUrl: z.string().url(),
  deploymentPath: z.string(),
  /** secp256k1 key (hex) for payments and chain transactions; clients need none. */
  key: z.string().regex(/^0x[0-9a-fA-F]{64}$/).optional(),
  /** libp2p identity (hex protobuf bytes); default a fresh one. */
  identity: z.string().regex(/^[0-9a-fA-F]+$/).optional(),
  bootstrap: z.string().optional(),
  listen: z.string().default('/ip4/127.0.0.1/tcp/0'),
  dataDir: z.string(),
  scheme: z.lazy(() => schemeEnum()).default('lottery'),
  behaviour: z.enum(['honest', 'garbage', 'colluding', 'stingy']).default('honest'),
  partner: z.string().optional(),
  contentBytes: z.coerce.number().int().min(1).default(4 << 20),
  contentSeed: z.string().default('souk'),
  maxCaches: z.coerce.number().int().min(1).default(4),
  cachesPerRequest: z.coerce.number().int().min(1).max(64).default(4),
  pricePerChunk: z.coerce.bigint().default(CDN_DEFAULT_PRICE_PER_CHUNK),
  /** Client: fetch the content this many times (at least), or keep fetching until `durationMs` ran out. */
  rounds: z.coerce.number().int().min(1).default(1),
  durationMs: z.coerce.number().int().min(0).default(0),
  /** Publisher: chunks it expects to pay per round, to size its payer (microcash: the escrow; default 8 clients × the content). */
  expectedChunks: z.coerce.number().int().min(1).optional(),
})
export type PeerConfig = z.input<typeof PeerConfigSchema>

export interface PeerIo {
  /** Receives every event (the CLI writes one JSON line each). */
  report(e: CdnEvent): void
  logger?: Logger
  /** Aborting stops the peer cleanly (settle, stats, close). */
  signal: AbortSignal
}

/** Deterministic content of `bytes` bytes from a seed, so every process can check a byte-exact delivery. */
export function makeContent(bytes: number, seed: string): Uint8Array {
  const out = new Uint8Array(bytes)
  let block = createHash('sha256').update(`souk-content:${seed}`).digest()
  for (let off = 0; off < bytes; off += 32) {
    out.set(block.subarray(0, Math.min(32, bytes - off)), off)
    block = createHash('sha256').update(block).digest()
  }
  return out
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const untilAborted = (signal: AbortSignal) => new Promise<void>((r) => { if (signal.aborted) r(); else signal.addEventListener('abort', () => r(), { once: true }) })
const json = (v: unknown) => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)))

/** Runs one peer until it is done (a client) or `io.signal` aborts (publisher, cache). */
export async function runPeer(input: PeerConfig, io: PeerIo): Promise<void> {
  const cfg = PeerConfigSchema.parse(input)
  const log = io.logger ?? silentLogger()
  const clock = systemClock()
  const emit = (e: CdnEvent) => io.report({ ...e, role: cfg.role, name: cfg.name })
  const deployment = JSON.parse(readFileSync(cfg.deploymentPath, 'utf8')) as SoukDeployment
  const transport = await createLibp2pTransport({ listen: [cfg.listen], privateKey: cfg.identity ? new Uint8Array(Buffer.from(cfg.identity, 'hex')) : undefined, logger: log.child('net'), banAfterViolations: 3 })
  emit({ kind: 'listening', peerId: transport.peerId, addresses: transport.addresses() })
  const needsChain = cfg.role !== 'client'
  const chain = needsChain ? await createChain({ kind: 'rpc', url: cfg.rpcUrl, dev: true }) : undefined
  try {
    if (cfg.role === 'publisher') {
      const key = cfg.key as Hex
      const ctx = { chain: chain!, deployment, key, storePath: join(cfg.dataDir, 'payments.sqlite'), clock, logger: log }
      // The scheme sizes the payer for this run (microcash: an escrow with a handful of winners, not the default).
      const plan = schemeByName(cfg.scheme).plan({ expectedPayments: cfg.expectedChunks ?? 8 * Math.ceil(cfg.contentBytes / CAPNET_DEFAULT_PARAMS.chunkSize), payees: cfg.maxCaches, pricePerPayment: cfg.pricePerChunk })
      await fundPayer(cfg.scheme, { ...ctx, options: plan.fundOptions }, { deposit: plan.deposit > CDN_DEFAULT_DEPOSIT ? plan.deposit : CDN_DEFAULT_DEPOSIT })
      const payer = await createPayer(cfg.scheme, { ...ctx, options: plan.payerOptions })
      const m = createMutex()
      const content = makeContent(cfg.contentBytes, cfg.contentSeed)
      const p = await createPublisher({
        transport, payer, clock, rng: forkRng(systemRng, 'publisher'), logger: log, onEvent: emit,
        fundServer: plan.fundsEachPayee ? (payee) => m.run(() => fundPayer(cfg.scheme, ctx, { deposit: 0n, reserves: [{ payee, amount: CDN_DEFAULT_RESERVE }] })) : undefined,
      }, {
        contentId: 'content', content,
        policy: { maxPricePerChunk: cfg.pricePerChunk, minCapacityBytes: 0, minCollateral: 0n, maxServers: cfg.maxCaches },
        puzzle: { cachesPerRequest: cfg.cachesPerRequest },
      })
      emit({ kind: 'published', bytes: content.length, sha256: sha(content), chunks: p.manifest.chunkCount, payer: payer.address, scheme: cfg.scheme, ...(plan.facts ? { plan: json(plan.facts) } : {}) })
      await untilAborted(io.signal)
      emit({ kind: 'stats', stats: json(p.stats()) })
      await p.stop()
      await payer.close()
    } else if (cfg.role === 'cache') {
      if (!cfg.bootstrap) throw new Error('a cache needs --bootstrap <publisher address>')
      const payee = await createPayee(cfg.scheme, { chain: chain!, deployment, key: cfg.key as Hex, storePath: join(cfg.dataDir, 'payments.sqlite'), clock, logger: log })
      const store = sqliteChunkStore(openDatabase(join(cfg.dataDir, 'chunks.sqlite'), { synchronous: 'NORMAL' }))
      const cache = await createCache({ transport, payee, store, clock, rng: forkRng(systemRng, 'cache'), logger: log, onEvent: emit }, {
        publisher: cfg.bootstrap, behaviour: cfg.behaviour === 'stingy' ? 'honest' : cfg.behaviour, partner: cfg.partner,
        offer: { pricePerChunk: cfg.pricePerChunk, floorPricePerChunk: cfg.pricePerChunk / 2n, capacityBytes: 1 << 30, collateral: 0n },
        lateClaimDelayMs: 1_000,
      })
      await Promise.race([cache.ready, untilAborted(io.signal)])
      await untilAborted(io.signal)
      await cache.stop()
      await cache.drain()
      const settle = await cache.settle({ force: true })
      emit({ kind: 'stats', payee: payee.address, stats: json(cache.stats()), settle: json(settle), payments: json(payee.stats()) })
      await payee.close()
      store.close?.()
    } else {
      if (!cfg.bootstrap) throw new Error('a client needs --bootstrap <publisher address>')
      const client = createClient({ transport, clock, logger: log, onEvent: emit }, {
        publisher: cfg.bootstrap, contentId: 'content', behaviour: cfg.behaviour === 'garbage' ? 'honest' : cfg.behaviour as 'honest' | 'stingy' | 'colluding', partner: cfg.partner,
      })
      const start = clock.now()
      let round = 0
      let error: string | undefined
      while (!io.signal.aborted && (round < cfg.rounds || (cfg.durationMs > 0 && clock.now() - start < cfg.durationMs))) {
        try {
          const got = await client.fetchContent({ signal: io.signal })
          emit({ kind: 'content', round, bytes: got.length, sha256: sha(got) })
        } catch (e) {
          error = (e as Error).message.split('\n')[0]
          emit({ kind: 'fetch-failed', round, reason: error })
          break
        }
        round++
      }
      emit({ kind: 'stats', stats: json(client.stats()), rounds: round, error })
    }
  } finally {
    await transport.stop().catch(() => {})
    await chain?.close().catch(() => {})
  }
}
