/**
 * The long-running peer: runs one role of any registered market (`services/markets.ts`), wired by the market's own
 * `wire` from the components only a node creates: libp2p, a chain over JSON-RPC, SQLite files in its data dir, the
 * system clock and rng. It reports what the role does as events (the CLI prints them as JSON lines so a testnet
 * parent can draw progress and a summary). Stops cleanly on `signal`: a server role drains and settles what it was
 * paid before returning.
 *
 * @example
 * ```ts
 * import { runPeer } from './peer.js'
 * await runPeer({ market: 'cdn', role: 'cache', rpcUrl: 'http://127.0.0.1:8545', deploymentPath: 'testnet/deployment.json',
 *   key, bootstrap: '/ip4/127.0.0.1/tcp/4001/p2p/12D3…', dataDir: 'testnet/cache-0', options: {} }, { report: console.log, signal })
 * ```
 */
import type { SoukDeployment } from '../payments/deploy.js'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Hex } from 'viem'
import { z } from 'zod'
import { createChain } from '../chain/chain.js'
import { systemClock } from '../core/clock.js'
import { openDatabase } from '../core/db.js'
import { SoukError } from '../core/errors.js'
import { silentLogger, type Logger } from '../core/logger.js'
import { forkRng, pooledSystemRng } from '../crypto/rng.js'
import { createLibp2pTransport } from '../net/index.js'
import { schemeEnum } from '../payments/index.js'
import type { ServiceEvent } from '../services/market.js'
import { marketByName, marketEnum } from '../services/markets.js'

export { makeContent } from '../services/cdn/market.js'

export const PeerConfigSchema = z.object({
  market: z.lazy(() => marketEnum()).default('cdn'),
  /** One of the market's roles (`ServiceMarket.roles`). */
  role: z.string(),
  name: z.string().default('peer'),
  rpcUrl: z.string().url(),
  deploymentPath: z.string(),
  /** secp256k1 key (hex) for payments and chain transactions; roles that neither pay nor get paid need none. */
  key: z.string().regex(/^0x[0-9a-fA-F]{64}$/).optional(),
  /** libp2p identity (hex protobuf bytes); default a fresh one. */
  identity: z.string().regex(/^[0-9a-fA-F]+$/).optional(),
  bootstrap: z.string().optional(),
  listen: z.string().default('/ip4/127.0.0.1/tcp/0'),
  dataDir: z.string(),
  scheme: z.lazy(() => schemeEnum()).default('lottery'),
  /** The role's configuration, parsed by the market's `configSchema` (CDN: behaviour, partner, contentBytes...). */
  options: z.record(z.string(), z.unknown()).default({}),
})
export type PeerConfig = z.input<typeof PeerConfigSchema>

export interface PeerIo {
  /** Receives every event (the CLI writes one JSON line each). */
  report(e: ServiceEvent): void
  logger?: Logger
  /** Aborting stops the peer cleanly (settle, stats, close). */
  signal: AbortSignal
}

/** Runs one peer until its role is done (a client) or `io.signal` aborts (a server role). */
export async function runPeer(input: PeerConfig, io: PeerIo): Promise<void> {
  const cfg = PeerConfigSchema.parse(input)
  const market = marketByName(cfg.market as string)
  if (!market.roles.includes(cfg.role)) throw new SoukError(`The ${market.name} market has no role ${JSON.stringify(cfg.role)}`, { code: 'UNKNOWN_ROLE', hints: [`use one of: ${market.roles.join(', ')}`] })
  const config = market.configSchema.parse(cfg.options)
  const log = io.logger ?? silentLogger()
  const clock = systemClock()
  const emit = (e: ServiceEvent) => io.report({ ...e, role: cfg.role, name: cfg.name })
  const deployment = JSON.parse(readFileSync(cfg.deploymentPath, 'utf8')) as SoukDeployment
  const transport = await createLibp2pTransport({ listen: [cfg.listen], privateKey: cfg.identity ? new Uint8Array(Buffer.from(cfg.identity, 'hex')) : undefined, logger: log.child('net'), banAfterViolations: 3 })
  emit({ kind: 'listening', peerId: transport.peerId, addresses: transport.addresses() })
  const paid = market.paidRoles.includes(cfg.role)
  const chain = paid ? await createChain({ kind: 'rpc', url: cfg.rpcUrl, dev: true }) : undefined
  const dbs: ReturnType<typeof openDatabase>[] = []
  try {
    if (paid && !cfg.key) throw new SoukError(`A ${market.name} ${cfg.role} needs a key`, { code: 'NODE_NO_KEY', hints: ['set SOUK_NODE_KEY or pass --key'] })
    const role = await market.wire(cfg.role, {
      transport, clock, rng: forkRng(pooledSystemRng, cfg.role), logger: log, onEvent: emit, bootstrap: cfg.bootstrap,
      openDb: (name) => { const db = openDatabase(join(cfg.dataDir, `${name}.sqlite`), { synchronous: 'NORMAL' }); dbs.push(db); return db },
      payments: paid ? { scheme: cfg.scheme, context: { chain: chain!, deployment, key: cfg.key as Hex, storePath: join(cfg.dataDir, 'payments.sqlite'), clock, rng: pooledSystemRng, logger: log } } : undefined,
    }, config)
    await role.run({ signal: io.signal })
    const final = await role.stop()
    // A role that could not do its job (a client whose download failed: publisher gone, no cache left) fails the
    // process with its reason, so `souk node` exits non-zero; a stingy client cut off as designed did its job.
    if (typeof final.error === 'string' && !(final.stats as { cutOff?: unknown } | undefined)?.cutOff) {
      throw new SoukError(`${cfg.name} (${cfg.market} ${cfg.role}) failed: ${final.error}`, { code: 'ROLE_FAILED' })
    }
  } finally {
    for (const db of dbs) if (db.open) db.close()
    await transport.stop().catch(() => {})
    await chain?.close().catch(() => {})
  }
}
