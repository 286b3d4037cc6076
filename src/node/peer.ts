/**
 * The long-running peer: runs one role of any registered market (`services/markets.ts`), wired by the market's own
 * `wire` from the components only a node creates: libp2p, a chain over JSON-RPC, SQLite files in its data dir, the
 * system clock and rng. It reports what the role does as events (the CLI prints them as JSON lines so a testnet
 * parent can draw progress and a summary). Stops cleanly on `signal`: a server role drains and settles what it was
 * paid before returning. A role whose `ready` rejects (a cache its publisher refuses) stops the same way, settling
 * what its store holds, then throws a `NodeError` naming the reason and what it settled. A paid role that stops with
 * payments it could not settle because the chain does not answer throws a `NodeError` naming how many it kept pending.
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
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { NODE_GAS, preflightFunds } from './preflight.js'
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
import type { SettleReport } from '../payments/types.js'
import { marketByName, marketEnum } from '../services/markets.js'

export { makeContent } from '../services/cdn/market.js'

/** A peer that cannot do its job (refused by the peer it joins, no key, no funds for its transactions). */
export class NodeError extends SoukError {
  override name = 'NodeError'
}

const firstLine = (e: unknown) => (e instanceof SoukError ? e.shortMessage : String((e as Error)?.message ?? e)).split('\n')[0]

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
  const recovered: ServiceEvent[] = []
  const emit = (e: ServiceEvent) => { if (e.kind === 'recovered') recovered.push(e); io.report({ ...e, role: cfg.role, name: cfg.name }) }
  const deployment = JSON.parse(readFileSync(cfg.deploymentPath, 'utf8')) as SoukDeployment
  const transport = await createLibp2pTransport({ listen: [cfg.listen], privateKey: cfg.identity ? new Uint8Array(Buffer.from(cfg.identity, 'hex')) : undefined, logger: log.child('net'), banAfterViolations: 3 })
  emit({ kind: 'listening', peerId: transport.peerId, addresses: transport.addresses() })
  const paid = market.paidRoles.includes(cfg.role)
  // A chain that does not answer fails the start; the transport must not outlive it (the process would hang).
  const chain = paid ? await createChain({ kind: 'rpc', url: cfg.rpcUrl, dev: true }).catch(async (e: unknown) => { await transport.stop().catch(() => {}); throw e }) : undefined
  const dbs: ReturnType<typeof openDatabase>[] = []
  try {
    if (paid && !cfg.key) throw new NodeError(`A ${market.name} ${cfg.role} needs a key`, { code: 'NODE_NO_KEY', hints: ['Pass --key <keystore|hex> or set SOUK_PRIVATE_KEY; create a key with `souk key new --out key.json`.'] })
    // Before any transaction: an account without the ETH for them is named, with what it has and needs.
    if (paid) await preflightFunds(chain!, { address: privateKeyToAddress(cfg.key as Hex).toLowerCase() as Address, gas: NODE_GAS, action: `running a ${market.name} ${cfg.role}` })
    const role = await market.wire(cfg.role, {
      transport, clock, rng: forkRng(pooledSystemRng, cfg.role), logger: log, onEvent: emit, bootstrap: cfg.bootstrap,
      openDb: (name) => { const db = openDatabase(join(cfg.dataDir, `${name}.sqlite`), { synchronous: 'NORMAL' }); dbs.push(db); return db },
      payments: paid ? { scheme: cfg.scheme, context: { chain: chain!, deployment, key: cfg.key as Hex, storePath: join(cfg.dataDir, 'payments.sqlite'), clock, rng: pooledSystemRng, logger: log } } : undefined,
    }, config)
    // A role that can never get into business (a cache its publisher refuses) stops at once: it settles what its store
    // holds, then fails with the reason. On `io.signal` (SIGTERM) it stops the same way, settling too.
    const stopRole = new AbortController()
    const forward = () => stopRole.abort()
    io.signal.addEventListener('abort', forward, { once: true })
    if (io.signal.aborted) stopRole.abort()
    let refused: unknown
    role.ready.catch((e: unknown) => { if (!io.signal.aborted) { refused = e; stopRole.abort() } })
    try {
      await role.run({ signal: stopRole.signal })
    } finally {
      io.signal.removeEventListener('abort', forward)
    }
    const final = await role.stop()
    if (refused !== undefined) {
      const s = [...recovered, final].map((e) => e.settle as SettleReport | undefined)
      const settled = s.reduce((n, r) => n + (r?.settled ?? 0), 0)
      const pending = (final.settle as SettleReport | undefined)?.pending ?? 0
      const what = `it settled ${settled} stored payment${settled === 1 ? '' : 's'}, ${pending > 0 ? `${pending} left pending` : 'none left'}`
      throw new NodeError(`The ${market.name} ${cfg.role} stopped: ${firstLine(refused)} (${what})`, {
        code: 'NODE_REFUSED',
        details: { settled, pending },
        hints: [
          ...(pending > 0 ? [`Run it again with the same --data-dir to settle the ${pending} left in ${join(cfg.dataDir, 'payments.sqlite')}.`] : []),
          'Join a publisher that hires it (--bootstrap), or start it again once this one has room.',
        ],
      })
    }
    // A paid role stopped holding payments it could not settle because the chain does not answer: it did not finish
    // its job, so it exits non-zero naming what is left and where (pending for reasons of the scheme, e.g. microcash
    // rounds not drawn yet, is no failure: the chain answers then).
    const left = (final.settle as SettleReport | undefined)?.pending ?? 0
    if (left > 0 && chain && (await chain.blockNumber().then(() => false, () => true))) {
      throw new NodeError(`The ${market.name} ${cfg.role} stopped with ${left} payment${left === 1 ? '' : 's'} not settled: the chain at ${cfg.rpcUrl} does not answer; kept pending in ${join(cfg.dataDir, 'payments.sqlite')}`, {
        code: 'NODE_UNSETTLED',
        details: { pending: left },
        hints: ['Run it again with the same --data-dir once the chain answers: it settles them at start.'],
      })
    }
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
