/**
 * The one seam of a payment scheme. Each `payments/<name>/index.ts` exports one `PaymentScheme` value; the list in
 * `schemes.ts` is the only place that names them all. Everything scheme-specific the rest of Souk needs goes
 * through this interface: deploying its contracts (`deploySouk` puts them in `deployment.contracts[name]`),
 * funding a payer, building the payee and payer sides, sizing a payer for a run, and the chain check of a testnet
 * run (`audit`, `summarize`, `describe`).
 *
 * @example
 * ```ts
 * import { schemeByName } from './registry.js'
 * const s = schemeByName('lottery')
 * const payee = await s.payee({ chain, deployment, key, clock, rng, logger })
 * const facts = await s.audit(chain, deployment.contracts.lottery, { fromBlock, toBlock })
 * ```
 */
import type { Address, Hex } from 'viem'
import type { Chain } from '../chain/types.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/logger.js'
import type { Rng } from '../crypto/rng.js'
import type { SignatureVerifier } from '../crypto/secp256k1.js'
import type { SoukDeployment } from './deploy.js'
import type { PayeeSide, PayerSide } from './types.js'

/** What a scheme's `deploy` returns: its contracts' addresses and parameters, and the block it was deployed at. */
export interface SchemeContracts {
  /** Latest block right after the scheme's contracts were deployed (decimal string, JSON-safe). */
  blockNumber: string
}

/**
 * Everything a scheme's payee or payer is built from. The components (`clock`, `rng`, `logger`) are required: a
 * role does no I/O of its own, so a simulator can run it on virtual time and seeded streams. Only `src/node` and
 * `src/cli` create the system ones (`systemClock()`, `pooledSystemRng`, a stream logger); tests pass
 * `manualClock()`, `seededRng(label)` and `memoryLogger()`.
 */
export interface SchemeContext {
  chain: Chain
  deployment: SoukDeployment
  /** This peer's secp256k1 key: signs payments and chain transactions. */
  key: Hex
  /**
   * SQLite file for durable payment state: the scheme opens its SQLite store there (`openSqlite*Store`); without
   * it, the scheme's memory store (same semantics, nothing survives the process). A role itself takes a `store`.
   */
  storePath?: string
  /** Time for caches and timestamps (lottery payee's chain-read caches, microcash server's escrow cache). */
  clock: Clock
  /**
   * Random bytes for lottery lane ids and rands and microcash ticket salts. On a real network a CSPRNG
   * (`pooledSystemRng`): a predictable rand lets a payer pick only losing tickets, and two processes of one
   * address given the same seeded stream would draw the same lanes and void each other's winners.
   */
  rng: Rng
  logger: Logger
  /** Scheme-specific options (see each scheme's `*Options`). */
  options?: Record<string, unknown>
  /** Where a payee checks signatures of known payers (default inline; the lottery payee takes a worker pool). */
  verifier?: SignatureVerifier
}

/** What `PaymentScheme.fund` needs: the payer's chain access only (a whole `SchemeContext` will do). */
export type FundContext = Pick<SchemeContext, 'chain' | 'deployment' | 'key' | 'options'>

export interface FundRequest {
  deposit: bigint
  reserves?: { payee: Address; amount: bigint }[]
}

/** The expected load of one payer paying many payees (a CDN publisher paying its caches). */
export interface PaymentLoad {
  /** Payments (chunks) the payer expects to make per round of the scheme. */
  expectedPayments: number
  payees: number
  pricePerPayment: bigint
}

/** How to fund and configure a payer for a `PaymentLoad` (`PaymentScheme.plan`). */
export interface PaymentPlan {
  /** `fund` request deposit (the caller may raise it to its own minimum). */
  deposit: bigint
  /** `SchemeContext.options` for `fund`. */
  fundOptions?: Record<string, unknown>
  /** `SchemeContext.options` for `payer`. */
  payerOptions?: Record<string, unknown>
  /** True when the payer must fund a reserve for each payee it hires before paying it (`fund` with `reserves`). */
  fundsEachPayee?: boolean
  /** JSON-safe facts about the plan that `ripen` and `summarize` read back (e.g. the escrow schedule). */
  facts?: Record<string, unknown>
}

/** A block range, both ends included. */
export interface BlockRange { fromBlock: bigint; toBlock: bigint }

/** What a scheme's own contract events say about a run (`PaymentScheme.audit`). */
export interface SchemeAudit {
  /** The contract payees are paid from (token transfers from it are what the testnet compares). */
  contract: Address
  /** Amount paid to each (lower-case) address, read from the scheme's own events. */
  paidByEvents: Record<string, bigint>
  /** Counts the scheme's summary reports (redemptions, transactions, channels...). */
  facts: Record<string, number>
}

/** What a testnet run saw, for `PaymentScheme.summarize`. */
export interface RunRecord {
  /** Payments the payees accepted (one per chunk). */
  paymentsAccepted: number
  /** The payer's service stats (`claimsPaid`, `paymentsRefused`), as reported. */
  payer?: Record<string, unknown>
  /** Per payee: winners (`PaymentScheme.winnersOf`), payments still pending settlement, credited value. */
  payees: { winning: number; pending: number; credited: bigint }[]
  /** `PaymentPlan.facts` of the payer's plan, as reported. */
  plan?: Record<string, unknown>
  /** First and last block of the serving window, and the latest block at the audit. */
  servingFrom: bigint
  servingTo: bigint
  latest: bigint
  /** Blocks `ripen` mined. */
  ripenedBlocks: number
}

/**
 * A payment scheme. `Name` is its name on the wire and in configurations; `Contracts` what it records in
 * `deployment.contracts[name]`; `DeployParams` its options to `deploySouk` (flat, unique names across schemes);
 * `Summary` its part of the testnet summary.
 */
export interface PaymentScheme<Name extends string = string, Contracts extends SchemeContracts = SchemeContracts, DeployParams extends object = object, Summary extends object = object> {
  readonly name: Name
  /** One line for `--help` and docs. */
  readonly description: string
  /** Name of the contract payees are paid from (reports). */
  readonly contractName: string
  /** Deploys the scheme's contracts paying in `token`. */
  deploy(chain: Chain, deployerKey: Hex, params: DeployParams & { token: Address }): Promise<Contracts>
  /** Funds the payer on chain so it can pay `reserves` payees (tokens must already be in its wallet). */
  fund(ctx: FundContext, f: FundRequest): Promise<void>
  payee(ctx: SchemeContext): Promise<PayeeSide>
  payer(ctx: SchemeContext): Promise<PayerSide>
  /** How to fund and configure one payer for `load`. */
  plan(load: PaymentLoad): PaymentPlan
  /**
   * Dev chains only (`chain.dev`): makes what was paid so far settleable when that needs blocks to pass (microcash:
   * mine past the draw). Returns the blocks mined. Never called against a real chain.
   */
  ripen?(chain: Chain, plan: Record<string, unknown>): Promise<number>
  /** Winners a payee holds, from what it and its service reported (`service`: the service role's stats). */
  winnersOf(report: { service: Record<string, unknown>; payee: Record<string, unknown> }): number
  /** Reads the scheme's own events in `range`: what each address was paid, and the counts its summary needs. */
  audit(chain: Chain, contracts: Contracts, range: BlockRange): Promise<SchemeAudit>
  /** The scheme's part of the testnet summary. */
  summarize(run: RunRecord, audit: SchemeAudit): Summary
  /** The summary as lines a person reads (each starts with the label column). */
  describe(summary: Summary): string[]
}

/** Adds `amount` to `m[address]` (lower-cased), for `SchemeAudit.paidByEvents`. */
export function addPaid(m: Record<string, bigint>, address: string, amount: bigint): void {
  const a = address.toLowerCase()
  m[a] = (m[a] ?? 0n) + amount
}

/** The latest block, as `SchemeContracts.blockNumber`. */
export async function deployedAt(chain: Chain): Promise<string> {
  return (await chain.blockNumber()).toString()
}

/** Token units as SOUK with 6 decimals, as the reports print them. */
export function formatSouk(v: string | bigint): string {
  return `${(Number(BigInt(v)) / 1e18).toFixed(6)} SOUK`
}
