/**
 * The one seam of a service market. Each `services/<name>/index.ts` exports one `ServiceMarket` value; the list in
 * `markets.ts` is the only place that names them all. A market says which roles it has, which adversarial
 * behaviours each can play, how a role is wired from components (`wire`: the one wiring the node, the tests and the
 * simulator share), and how a local testnet of it is laid out and summarized.
 *
 * Roles do no I/O of their own: everything they touch comes in `RoleComponents`, created by `src/node` (libp2p,
 * JSON-RPC chain, SQLite files, system clock and rng) or by a test or simulator (memory network, embedded chain,
 * in-memory databases, `manualClock`, `seededRng`).
 *
 * @example
 * ```ts
 * import { marketByName } from './markets.js'
 * const cdn = marketByName('cdn')
 * const role = await cdn.wire('client', components, cdn.configSchema.parse({}))
 * await role.run({ signal })
 * const stats = await role.stop()
 * ```
 */
import type { z } from 'zod'
import type { Clock } from '../core/clock.js'
import type { Db } from '../core/db.js'
import type { Logger } from '../core/logger.js'
import type { Rng } from '../crypto/rng.js'
import type { Transport } from '../net/index.js'
import type { SchemeContext } from '../payments/scheme.js'
import type { SchemeName } from '../payments/types.js'

/** Something a role reports as it works: a node prints these as JSON lines, tests and the simulator collect them. */
export interface ServiceEvent {
  kind: string
  [field: string]: unknown
}
export type ServiceEventSink = (e: ServiceEvent) => void

/** Everything a role is built from. A role asks for nothing else, and nothing here has a default. */
export interface RoleComponents {
  transport: Transport
  clock: Clock
  /** This role's own stream (`forkRng(root, name)`). */
  rng: Rng
  logger: Logger
  onEvent: ServiceEventSink
  /**
   * Where the role keeps durable state: one database per `name` (a node opens `<data-dir>/<name>.sqlite`; tests and
   * the simulator an in-memory one).
   */
  openDb(name: string): Db
  /** Roles that pay or are paid: the payment scheme and the context its payer or payee is built from. */
  payments?: { scheme: SchemeName; context: SchemeContext }
  /** The address of the peer this role joins first (a CDN cache or client: its publisher). */
  bootstrap?: string
  /**
   * A fresh identity (a new transport with a new peer id) for a role that whitewashes: only the CDN's `free-rider`
   * client asks for it (cut off, it comes back under a new peer id). The caller owns the transports it returns and
   * stops them with the first one; honest roles never call it.
   */
  newIdentity?: () => Promise<Transport>
  /**
   * Runs `work`, a computation outside the role's clock and network (the compute market's sharp transcoding, on
   * libuv's threads), and returns its result. The simulator holds simulated time still until it settles and resumes
   * the roles in the order their works began, so a run stays a function of its seed; absent (a node, a test), the
   * work is simply awaited. Only the compute worker and verifier ask for it.
   */
  external?: <T>(work: () => Promise<T>) => Promise<T>
}

/** A wired role. */
export interface RoleHandle {
  readonly role: string
  /** Resolves once the role is in business (a publisher published, a cache hired and holding the content). */
  readonly ready: Promise<void>
  /** Does the role's work: until it is done (a client) or `signal` aborts (a server role). */
  run(opts: { signal: AbortSignal }): Promise<void>
  /** Stops, drains, settles what it was paid and releases its stores; reports its final `stats` event and returns it. */
  stop(): Promise<ServiceEvent>
}

/**
 * A service market. `Role` names its roles; `Config` is a role's configuration (`configSchema` parses it from node
 * flags or a test's object); `Handle` what `wire` returns (a `RoleHandle` plus what the market's own tests read).
 */
export interface ServiceMarket<Role extends string = string, Config = unknown, Handle extends RoleHandle = RoleHandle> {
  readonly name: string
  /** One line for `--help` and docs. */
  readonly description: string
  readonly roles: readonly Role[]
  /** The behaviours each role can be run with, `honest` first (the others are the market's adversaries). */
  readonly adversaries: Readonly<Record<Role, readonly string[]>>
  /** Roles that pay or are paid (they get `RoleComponents.payments`). */
  readonly paidRoles: readonly Role[]
  readonly configSchema: z.ZodType<Config, unknown>
  /** Builds and starts `role` from `components`. */
  wire(role: Role, components: RoleComponents, config: Config): Promise<Handle>
}
