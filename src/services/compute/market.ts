/**
 * The compute market's seam (`ServiceMarket`): roles `worker`, `verifier` and `client`, their adversaries, and
 * `wire`, the one wiring `souk node`, the tests and the testnet share. The contract's address comes in the role's
 * configuration (`workMarket`), the chain and key in `RoleComponents.payments.context`. Work is paid per verified
 * batch from the job's on-chain escrow; the worker's stake pays the client (and the finder) when a spot check
 * catches it.
 *
 * @example
 * ```ts
 * const worker = await computeMarket.wire('worker', components, ComputeConfigSchema.parse({ workMarket }))
 * const client = await computeMarket.wire('client', { ...components2, bootstrap: workerAddress }, ComputeConfigSchema.parse({ workMarket, checkers }))
 * await client.client.worked // job opened, every unit transcoded and every batch claimed
 * ```
 */
import { z } from 'zod'
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { offsetClock } from '../../core/clock.js'
import { SoukError } from '../../core/errors.js'
import { faucet } from '../../chain/deploy.js'
import { keySigner, marketDomain } from '../../market/sign.js'
import type { RoleComponents, RoleHandle, ServiceEvent, ServiceMarket } from '../market.js'
import { computeContract, type ComputeChain } from './chain.js'
import { createComputeClient, type ClientResult, type ComputeClient } from './client.js'
import { sqliteWorkerStore } from './store.js'
import { parseProfile, unitInput, TRANSCODE_PRESETS, type TranscodeProfile } from './transcode.js'
import { createComputeVerifier, VERIFIER_BEHAVIOURS, type ComputeVerifier } from './verifier.js'
import { createComputeWorker, WORKER_BEHAVIOURS, type ComputeWorker, type WorkerBehaviour } from './worker.js'

export const COMPUTE_ROLES = ['worker', 'verifier', 'client'] as const
export type ComputeRole = (typeof COMPUTE_ROLES)[number]
export const COMPUTE_CLIENT_BEHAVIOURS = ['honest', 'false-accuse'] as const

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'a 0x-prefixed address').transform((s) => s.toLowerCase() as Address)

/** The small profile of tests and the testnet: 640x360 sources to 320x180 JPEG at quality 80. */
export const PROFILE_180P_JPEG: TranscodeProfile = Object.freeze({ name: '180p-jpeg-q80', width: 320, height: 180, format: 'jpeg', quality: 80 })
const PROFILES: readonly TranscodeProfile[] = [PROFILE_180P_JPEG, ...TRANSCODE_PRESETS]

/** `name` (a preset: 180p-jpeg-q80, 720p-jpeg-q80, 480p-webp-q75, 360p-jpeg-q75) or `WIDTHxHEIGHT:format:quality`. */
export function profileByName(s: string): TranscodeProfile {
  const p = PROFILES.find((x) => x.name === s)
  if (p) return p
  const m = /^(\d+)x(\d+):(jpeg|webp|png):(\d+)$/.exec(s)
  if (!m) throw new Error(`unknown profile ${JSON.stringify(s)}: use one of ${PROFILES.map((x) => x.name).join(', ')} or WIDTHxHEIGHT:format:quality`)
  return parseProfile({ name: s, width: Number(m[1]), height: Number(m[2]), format: m[3], quality: Number(m[4]) })
}

/** `address@peer` entries, comma-separated: the job's checkers and where to reach them. */
const checkersList = z.string().transform((s, ctx) => {
  const out: { address: Address; peer: string }[] = []
  for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const at = part.indexOf('@')
    const a = part.slice(0, at)
    if (at < 0 || !/^0x[0-9a-fA-F]{40}$/.test(a) || part.length === at + 1) { ctx.addIssue({ code: 'custom', message: `checker ${JSON.stringify(part)} is not address@peer` }); return z.NEVER }
    out.push({ address: a.toLowerCase() as Address, peer: part.slice(at + 1) })
  }
  return out
})

/** A compute role's configuration: node flags (`--opt key=value`), or a test's object. */
export const ComputeConfigSchema = z.object({
  behaviour: z.enum([...WORKER_BEHAVIOURS, ...VERIFIER_BEHAVIOURS.filter((b) => b !== 'honest'), 'false-accuse']).default('honest'),
  /** The WorkMarket contract (the testnet deploys it and passes it on). */
  workMarket: address,
  /** Worker: its price of one unit, token units, the most stake it locks, the largest batch it claims. */
  pricePerUnit: z.coerce.bigint().min(0n).default(10n ** 15n),
  maxStake: z.coerce.bigint().min(0n).default(10n ** 21n),
  maxBatch: z.coerce.number().int().min(1).max(2 ** 20).default(1024),
  minResponseWindow: z.coerce.number().int().min(1).default(4),
  parallel: z.coerce.number().int().min(1).max(64).default(1),
  /** Verifier: the PSNR (dB) an honest rendition reaches against our own. */
  minPsnrDb: z.coerce.number().min(1).max(100).default(30),
  /** Client: the video (its source size, frames per unit, seed), the profile and the job it asks for. */
  units: z.coerce.number().int().min(1).max(2 ** 32 - 1).default(16),
  framesPerUnit: z.coerce.number().int().min(1).max(1024).default(2),
  width: z.coerce.number().int().min(2).max(8192).default(640),
  height: z.coerce.number().int().min(2).max(8192).default(360),
  contentSeed: z.string().default('souk-compute'),
  /** The client's units as segment bytes (`encodeSegment`), instead of the test video drawn from contentSeed. */
  segments: z.array(z.custom<Uint8Array>((v) => v instanceof Uint8Array, "segment bytes")).optional(),
  profile: z.string().default(PROFILE_180P_JPEG.name),
  /** Units a work claim covers, and units re-executed in each: the check rate is checksPerBatch / batchUnits. */
  batchUnits: z.coerce.number().int().min(1).max(2 ** 20).default(64),
  checksPerBatch: z.coerce.number().int().min(1).max(1024).default(2),
  slashMultiple: z.coerce.bigint().min(1n).default(2n),
  finderBps: z.coerce.number().int().min(0).max(10_000).default(1_000),
  challengeDelay: z.coerce.number().int().min(1).max(200).default(2),
  disputeWindow: z.coerce.number().int().min(1).default(16),
  responseWindow: z.coerce.number().int().min(1).default(8),
  claimWithinBlocks: z.coerce.number().int().min(1).default(5_000),
  maxPricePerUnit: z.coerce.bigint().min(0n).default(10n ** 17n),
  checkers: z.union([checkersList, z.array(z.object({ address, peer: z.string().min(1) }))]).default([]),
  quorum: z.coerce.number().int().min(1).max(16).default(1),
  pollMs: z.coerce.number().int().min(1).default(200),
  /** Added to the clock's `now()`: when the clock counts from another origin than the chain's block times (the simulator). */
  clockOffsetMs: z.coerce.number().int().default(0),
  dealMs: z.coerce.number().int().min(1).default(7 * 86_400_000),
})
export type ComputeConfig = z.output<typeof ComputeConfigSchema>

export interface ComputeWorkerHandle extends RoleHandle { role: 'worker'; worker: ComputeWorker; chain: ComputeChain }
export interface ComputeVerifierHandle extends RoleHandle { role: 'verifier'; verifier: ComputeVerifier; chain: ComputeChain; address: Address }
export interface ComputeClientHandle extends RoleHandle { role: 'client'; client: ComputeClient; chain: ComputeChain; result(): ClientResult }
export type ComputeHandle = ComputeWorkerHandle | ComputeVerifierHandle | ComputeClientHandle

export class ComputeWiringError extends SoukError {
  override name = 'ComputeWiringError'
}

function need<T>(v: T | undefined, what: string, role: ComputeRole): T {
  if (v === undefined) throw new ComputeWiringError(`A compute ${role} needs ${what}`, { code: 'COMPUTE_WIRING', hints: [`pass RoleComponents.${what}`] })
  return v
}
const untilAborted = (signal: AbortSignal) => new Promise<void>((r) => { if (signal.aborted) r(); else signal.addEventListener('abort', () => r(), { once: true }) })
const firstLine = (e: unknown) => (e as Error).message.split('\n')[0]

function behaviourFor(role: ComputeRole, b: ComputeConfig['behaviour']): string {
  const ok = role === 'worker' ? (WORKER_BEHAVIOURS as readonly string[]) : role === 'verifier' ? (VERIFIER_BEHAVIOURS as readonly string[]) : (COMPUTE_CLIENT_BEHAVIOURS as readonly string[])
  if (!ok.includes(b)) throw new ComputeWiringError(`A compute ${role} cannot be ${b}`, { code: 'COMPUTE_BEHAVIOUR', hints: [`a ${role} is one of: ${ok.join(', ')}`] })
  return b
}

async function wireWorker(c: RoleComponents, cfg: ComputeConfig): Promise<ComputeWorkerHandle> {
  const { context } = need(c.payments, 'payments', 'worker')
  const chain = computeContract(context.chain, context.key, { address: cfg.workMarket, token: context.deployment.token })
  const me = privateKeyToAddress(context.key).toLowerCase() as Address
  // Dev chains: fake coins for the stakes it may lock.
  if (context.chain.dev) await faucet(context.chain, context.key, context.deployment.token, me, cfg.maxStake)
  const worker = await createComputeWorker({ transport: c.transport, chain, signer: keySigner(context.key), store: sqliteWorkerStore(c.openDb('compute')), clock: offsetClock(c.clock, cfg.clockOffsetMs), logger: c.logger, onEvent: c.onEvent, external: c.external }, {
    marketDomain: marketDomain(context.chain.chainId, cfg.workMarket), pricePerUnit: cfg.pricePerUnit, maxStake: cfg.maxStake, maxBatch: cfg.maxBatch,
    minResponseWindow: cfg.minResponseWindow, behaviour: behaviourFor('worker', cfg.behaviour) as WorkerBehaviour, parallel: cfg.parallel,
  })
  c.onEvent({ kind: 'offering', worker: me, pricePerUnit: cfg.pricePerUnit, behaviour: cfg.behaviour })
  return {
    role: 'worker', worker, chain, ready: Promise.resolve(),
    async run({ signal }) {
      while (!signal.aborted) {
        try { await worker.tick() } catch (e) { c.logger.warn('worker tick failed; retrying', { reason: firstLine(e) }) }
        await c.clock.sleep(cfg.pollMs, { signal }).catch(() => {})
      }
      await untilAborted(signal)
    },
    async stop() {
      await worker.stop()
      const s = await worker.settle().catch((e: unknown) => { c.logger.warn('could not settle the jobs', { reason: firstLine(e) }); return undefined })
      const e: ServiceEvent = { kind: 'stats', worker: me, stats: worker.stats(), settle: s }
      c.onEvent(e)
      return e
    },
  }
}

async function wireVerifier(c: RoleComponents, cfg: ComputeConfig): Promise<ComputeVerifierHandle> {
  const { context } = need(c.payments, 'payments', 'verifier')
  const chain = computeContract(context.chain, context.key, { address: cfg.workMarket, token: context.deployment.token })
  const me = privateKeyToAddress(context.key).toLowerCase() as Address
  const verifier = await createComputeVerifier({
    transport: c.transport, chain, key: context.key, chainId: context.chain.chainId, clock: offsetClock(c.clock, cfg.clockOffsetMs), rng: c.rng, logger: c.logger, onEvent: c.onEvent, external: c.external,
  }, { behaviour: behaviourFor('verifier', cfg.behaviour) as (typeof VERIFIER_BEHAVIOURS)[number], minPsnrDb: cfg.minPsnrDb })
  c.onEvent({ kind: 'checking', verifier: me, peer: c.transport.peerId, behaviour: cfg.behaviour })
  return {
    role: 'verifier', verifier, chain, address: me, ready: Promise.resolve(),
    run: ({ signal }) => untilAborted(signal),
    async stop() {
      await verifier.stop()
      const e: ServiceEvent = { kind: 'stats', verifier: me, stats: verifier.stats() }
      c.onEvent(e)
      return e
    },
  }
}

async function wireClient(c: RoleComponents, cfg: ComputeConfig): Promise<ComputeClientHandle> {
  const { context } = need(c.payments, 'payments', 'client')
  const workerAddr = need(c.bootstrap, 'bootstrap', 'client')
  if (cfg.checkers.length === 0) throw new ComputeWiringError('A compute client needs the job\'s checkers', { code: 'COMPUTE_WIRING', hints: ['pass --opt checkers=0xADDRESS@PEER[,...] (the testnet does)'] })
  if (cfg.quorum > cfg.checkers.length) throw new ComputeWiringError(`A quorum of ${cfg.quorum} needs at least ${cfg.quorum} checkers, not ${cfg.checkers.length}`, { code: 'COMPUTE_WIRING', hints: ['lower --opt quorum or name more checkers'] })
  const chain = computeContract(context.chain, context.key, { address: cfg.workMarket, token: context.deployment.token })
  const me = privateKeyToAddress(context.key).toLowerCase() as Address
  let profile: TranscodeProfile
  try { profile = profileByName(cfg.profile) } catch (e) { throw new ComputeWiringError(firstLine(e), { code: 'COMPUTE_PROFILE', hints: ['pass --opt profile=720p-jpeg-q80 or 640x360:webp:75'] }) }
  if (context.chain.dev) await faucet(context.chain, context.key, context.deployment.token, me, cfg.maxPricePerUnit * BigInt(cfg.units))
  const client = await createComputeClient({
    transport: c.transport, chain, signer: keySigner(context.key), key: context.key, chainId: context.chain.chainId, token: context.deployment.token, clock: offsetClock(c.clock, cfg.clockOffsetMs), rng: c.rng, logger: c.logger, onEvent: c.onEvent,
  }, {
    marketDomain: marketDomain(context.chain.chainId, cfg.workMarket), worker: workerAddr, checkers: cfg.checkers, quorum: cfg.quorum, profile, units: cfg.units,
    input: (unit) => cfg.segments?.[unit] ?? unitInput({ width: cfg.width, height: cfg.height, framesPerUnit: cfg.framesPerUnit, unit, seed: cfg.contentSeed }),
    maxBatch: cfg.batchUnits, checksPerBatch: cfg.checksPerBatch, slashMultiple: cfg.slashMultiple, finderBps: cfg.finderBps, challengeDelay: cfg.challengeDelay,
    disputeWindow: cfg.disputeWindow, responseWindow: cfg.responseWindow, claimWithinBlocks: cfg.claimWithinBlocks, maxPricePerUnit: cfg.maxPricePerUnit,
    behaviour: behaviourFor('client', cfg.behaviour) as 'honest' | 'false-accuse', dealMs: cfg.dealMs,
  })
  const ready = client.worked.then(() => {})
  ready.catch(() => {}) // the reason is in result().error; whoever awaits `ready` still sees the rejection
  return {
    role: 'client', client, chain, ready, result: () => client.result(),
    async run({ signal }) {
      const stop = () => { void client.stop() }
      signal.addEventListener('abort', stop, { once: true })
      const loop = (async () => {
        while (!signal.aborted && !client.result().ended && !client.result().error) {
          await client.tick()
          await c.clock.sleep(cfg.pollMs, { signal }).catch(() => {})
        }
      })()
      await Promise.race([client.done, loop])
      signal.removeEventListener('abort', stop)
    },
    async stop() {
      await client.stop()
      const r = client.result()
      const e: ServiceEvent = { kind: 'stats', stats: r, error: r.error ?? (r.ended ? undefined : 'the job did not finish') }
      c.onEvent(e)
      return e
    },
  }
}

export const computeMarket: ServiceMarket<ComputeRole, ComputeConfig, ComputeHandle> = {
  name: 'compute',
  description: 'transcoding: jobs escrowed on chain, work claimed per batch with one Merkle root, spot checks re-executed by staked checkers, slashing on a mismatch',
  roles: COMPUTE_ROLES,
  adversaries: { worker: WORKER_BEHAVIOURS, verifier: VERIFIER_BEHAVIOURS, client: COMPUTE_CLIENT_BEHAVIOURS },
  paidRoles: COMPUTE_ROLES,
  configSchema: ComputeConfigSchema as unknown as z.ZodType<ComputeConfig, unknown>,
  wire(role, components, config) {
    if (role === 'worker') return wireWorker(components, config)
    if (role === 'verifier') return wireVerifier(components, config)
    if (role === 'client') return wireClient(components, config)
    throw new ComputeWiringError(`The compute market has no role ${JSON.stringify(role)}`, { code: 'UNKNOWN_ROLE' })
  },
}
