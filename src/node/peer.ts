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
import { connect } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
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

/** How to give a paid role its key (the `souk node` ways). */
export const NODE_KEY_HINTS = [
  'Pass --key <keystore|hex>: a keystore file (its password in --password-file or SOUK_KEY_PASSWORD) or 0x + 64 hex digits.',
  'Or set SOUK_NODE_KEY=0x… (then SOUK_PRIVATE_KEY) in the environment, which keeps it out of process listings.',
  'No key yet? `souk key new --out node-key.json` makes one (then --key node-key.json); fund its address on the chain.',
]

export interface BootstrapProbe {
  /** Tries before giving up (default 3). */
  attempts?: number
  /** Wait before the second try, doubled for each next one (default 500 ms). */
  delayMs?: number
  /** One connection attempt (default 2 s). */
  timeoutMs?: number
}

/**
 * Checks a bootstrap multiaddr the way a user gave it: it must parse and name its peer (`/p2p/<id>`), else a
 * `NodeError` (BOOTSTRAP_ADDRESS). Then, for a TCP address, connects to it with a bounded retry and returns why
 * nothing answered (`undefined`: it answered, or is not a TCP address this can check).
 */
export async function probeBootstrap(addr: string, o: BootstrapProbe = {}): Promise<string | undefined> {
  const how = 'Pass --bootstrap /ip4/<host>/tcp/<port>/p2p/<peer id>: the address the peer you join prints when it starts ("listening on …"; `souk testnet` prints the publisher\'s).'
  let ma: ReturnType<typeof multiaddr>
  try { ma = multiaddr(addr) } catch (e) {
    throw new NodeError(`The bootstrap address ${JSON.stringify(addr)} is not a multiaddr`, { code: 'BOOTSTRAP_ADDRESS', cause: e, hints: [how] })
  }
  if (!ma.getPeerId()) throw new NodeError(`The bootstrap address ${addr} names no peer (no /p2p/<peer id> at its end)`, { code: 'BOOTSTRAP_ADDRESS', hints: [how] })
  let host: { address: string; port: number }
  try {
    if (!ma.protoNames().includes('tcp')) return undefined
    host = ma.nodeAddress()
  } catch { return undefined }
  const attempts = o.attempts ?? 3, timeoutMs = o.timeoutMs ?? 2000
  let reason = ''
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, (o.delayMs ?? 500) * 2 ** (i - 1)))
    reason = await new Promise<string>((resolve) => {
      const sock = connect({ host: host.address, port: host.port })
      const done = (r: string) => { clearTimeout(timer); sock.destroy(); resolve(r) }
      const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms`), timeoutMs)
      sock.once('connect', () => done(''))
      sock.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'connection refused' : e.code ?? e.message))
    })
    if (reason === '') return undefined
  }
  return `${reason} (${attempts} ${attempts === 1 ? 'try' : 'tries'})`
}

/** The deployment file a testnet wrote; a missing or broken one is a `NodeError` naming it. */
function readDeployment(path: string): SoukDeployment {
  let text: string
  try { text = readFileSync(path, 'utf8') } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new NodeError(`Cannot read the deployment file ${path}${code === 'ENOENT' ? ': no such file' : code === 'EISDIR' ? ': it is a directory' : ''}`, { code: 'NODE_DEPLOYMENT', cause: e, hints: ['Pass --deployment <the deployment.json of the chain you join>: `souk testnet` writes it in its data dir and prints its path.'] })
  }
  try { return JSON.parse(text) as SoukDeployment } catch (e) {
    throw new NodeError(`The deployment file ${path} is not JSON`, { code: 'NODE_DEPLOYMENT', cause: e, hints: ['Pass the deployment.json a testnet wrote, unchanged.'] })
  }
}

/** Known refusals by the peer a role joins, said for a person (the publisher's decline reasons). */
function refusal(reason: string, cfg: { bootstrap?: string; role: string }): { text: string; hints: string[] } | undefined {
  if (/enough servers hired/.test(reason)) {
    return {
      text: `the publisher at ${cfg.bootstrap} has all the ${cfg.role === 'cache' ? 'caches' : 'servers'} it wants (it said: ${reason})`,
      hints: [
        'A publisher hires at most --max-caches caches (default 4): start it again with a higher one, e.g. `souk node --role publisher --max-caches 8 …` (`souk testnet --caches N` hires N).',
        'Or join another publisher (--bootstrap <its address>).',
      ],
    }
  }
  return undefined
}

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
  /** How long to try the bootstrap address before calling it dead (default 3 tries: 0, 0.5 s, 1 s later). */
  bootstrapProbe?: BootstrapProbe
}

/** Runs one peer until its role is done (a client) or `io.signal` aborts (a server role). */
export async function runPeer(input: PeerConfig, io: PeerIo): Promise<void> {
  const cfg = PeerConfigSchema.parse(input)
  const market = marketByName(cfg.market as string)
  if (!market.roles.includes(cfg.role)) throw new SoukError(`The ${market.name} market has no role ${JSON.stringify(cfg.role)}`, { code: 'UNKNOWN_ROLE', hints: [`use one of: ${market.roles.join(', ')}`] })
  const config = market.configSchema.parse(cfg.options)
  const paid = market.paidRoles.includes(cfg.role)
  // Before any socket or chain call: a paid role without a key can do nothing, and is told how to give one.
  if (paid && !cfg.key) throw new NodeError(`A ${market.name} ${cfg.role} needs a signing key (it signs payments and chain transactions), and none was given`, { code: 'NODE_NO_KEY', hints: NODE_KEY_HINTS })
  const log = io.logger ?? silentLogger()
  const clock = systemClock()
  const recovered: ServiceEvent[] = []
  const emit = (e: ServiceEvent) => { if (e.kind === 'recovered') recovered.push(e); io.report({ ...e, role: cfg.role, name: cfg.name }) }
  const deployment = readDeployment(cfg.deploymentPath)
  const transport = await createLibp2pTransport({ listen: [cfg.listen], privateKey: cfg.identity ? new Uint8Array(Buffer.from(cfg.identity, 'hex')) : undefined, logger: log.child('net'), banAfterViolations: 3 })
  emit({ kind: 'listening', peerId: transport.peerId, addresses: transport.addresses() })
  // A chain that does not answer fails the start; the transport must not outlive it (the process would hang).
  const chain = paid ? await createChain({ kind: 'rpc', url: cfg.rpcUrl, dev: true }).catch(async (e: unknown) => { await transport.stop().catch(() => {}); throw e }) : undefined
  const dbs: ReturnType<typeof openDatabase>[] = []
  try {
    // Before any transaction: an account without the ETH for them is named, with what it has and needs.
    if (paid) await preflightFunds(chain!, { address: privateKeyToAddress(cfg.key as Hex).toLowerCase() as Address, gas: NODE_GAS, action: `running a ${market.name} ${cfg.role}` })
    // The peer it joins: a malformed address fails here; one where nothing answers (after a bounded retry) fails a
    // role that holds nothing at once, and a paid role after it settled what its store holds (below).
    const unreachable = cfg.bootstrap === undefined ? undefined : await probeBootstrap(cfg.bootstrap, io.bootstrapProbe)
    const deadBootstrap = unreachable === undefined ? undefined : new NodeError(`Nothing answers at the bootstrap address ${cfg.bootstrap}: ${unreachable}`, {
      code: 'BOOTSTRAP_UNREACHABLE',
      hints: ['Check that the peer you join (the publisher for a cdn cache or client) is running, and pass the address it prints now: a restarted peer listens on a new port.'],
    })
    if (deadBootstrap && !paid) throw deadBootstrap
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
      const known = refusal(firstLine(refused), cfg)
      const why = deadBootstrap ? deadBootstrap.shortMessage.replace(/^N/, 'n') : known ? known.text : firstLine(refused)
      throw new NodeError(`The ${market.name} ${cfg.role} stopped: ${why} (${what})`, {
        code: deadBootstrap ? 'BOOTSTRAP_UNREACHABLE' : 'NODE_REFUSED',
        details: { settled, pending },
        hints: [
          ...(pending > 0 ? [`Run it again with the same --data-dir to settle the ${pending} left in ${join(cfg.dataDir, 'payments.sqlite')}.`] : []),
          ...(deadBootstrap ? deadBootstrap.hints : known ? known.hints : ['Join a publisher that hires it (--bootstrap), or start it again once this one has room.']),
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
      if (deadBootstrap) throw deadBootstrap
      throw new SoukError(`${cfg.name} (${cfg.market} ${cfg.role}) failed: ${final.error}`, { code: 'ROLE_FAILED' })
    }
  } finally {
    for (const db of dbs) if (db.open) db.close()
    await transport.stop().catch(() => {})
    await chain?.close().catch(() => {})
  }
}
