/**
 * The model-backed chain: a `Chain` whose EIP-1193 provider is TypeScript, not an EVM. For simulations too large for
 * the embedded EVM. Blocks, transactions, receipts, logs, nonces, ETH balances and fees are kept as an Ethereum node
 * keeps them; contract creations are recognised by their initcode (compared with the compiled artifacts in
 * `artifacts/*.json`), and calls to `SoukToken` and `TicketBroker` run TypeScript models of exactly those contracts'
 * checks, state, events and custom errors (ABI-encoded revert data, so `ContractRevertError` decoding works). The
 * other Souk contracts are recorded as deployed; any call to them is a `ModelChainUnsupportedError` naming the
 * contract and the function.
 *
 * Gas: every modelled function is charged what the EVM charges it. Storage is metered by the EVM's own rules
 * (EIP-2929 cold/warm, EIP-2200/3529 SSTORE costs and refunds, capped at a fifth), logs by their topics and bytes,
 * calls between contracts by cold/warm account access, calldata by EIP-2028; what is left (the code's own
 * computation) is a measured constant per function (`MODEL_GAS`, measured on the embedded EVM by
 * `scripts/measure-model-gas.ts`). Fees are paid at the block's base fee (EIP-1559, as the EVM computes it), so the
 * gas price the roles read, the face values they derive from it and every token amount agree with the EVM.
 *
 * Deterministic: no wall clock. Block timestamps come from `now` (milliseconds of the simulated clock), block
 * hashes are keccak256 of the header's fields.
 *
 * @example
 * ```ts
 * import { createModelChain } from './model-chain.js'
 * const chain = await createModelChain({ now: () => clock.now() })
 * const d = await deploySouk(chain, chain.devKeys[0])   // the same deployment as on the EVM, same addresses
 * ```
 */
import { readFileSync } from 'node:fs'
import {
  decodeAbiParameters, decodeFunctionData, encodeAbiParameters, encodeErrorResult, encodeEventTopics, encodeFunctionResult, getAddress, getContractAddress,
  keccak256 as viemKeccak, parseTransaction, serializeTransaction, hexToBytes as viemHexToBytes, toHex, type Abi, type AbiEvent, type Address, type Hex,
} from 'viem'
import { chainFromProvider } from '../chain/chain.js'
import { DEFAULT_CHAIN_ID, devKeys } from '../chain/embedded.js'
import type { Chain, Eip1193Provider } from '../chain/types.js'
import { SoukError } from '../core/errors.js'
import { hexToBytes, readWord, writeAddress, writeWord } from '../crypto/bytes.js'
import { eip712Digest, eip712Domain, typeHash } from '../crypto/eip712.js'
import { keccak256 } from '../crypto/keccak.js'
import { addressOf, recoverDigest, SECP256K1_HALF_N } from '../crypto/secp256k1.js'

// ---------------------------------------------------------------- options, errors

/**
 * The sender of a parsed signed transaction, recovered synchronously (src/crypto): viem's recoverTransactionAddress
 * loads its curve with a dynamic import, an await the simulator's engine cannot see, so simulated time would run on
 * while it resolves.
 */
function recoverSender(tx: ReturnType<typeof parseTransaction>): Address {
  const { r, s, v, yParity } = tx as { r?: Hex; s?: Hex; v?: bigint; yParity?: number }
  if (r === undefined || s === undefined) throw new Error('the transaction is not signed')
  const unsigned = serializeTransaction({ ...tx, r: undefined, s: undefined, v: undefined, yParity: undefined, sidecars: undefined } as never)
  const parity = yParity !== undefined ? yParity : v !== undefined ? Number(v >= 35n ? (v - 35n) % 2n : v - 27n) : 0
  const sig = new Uint8Array(65)
  sig.set(viemHexToBytes(r, { size: 32 }), 0)
  sig.set(viemHexToBytes(s, { size: 32 }), 32)
  sig[64] = 27 + parity
  const got = recoverDigest(viemHexToBytes(viemKeccak(unsigned)), sig)
  if (!got.ok) throw new Error(`the transaction's signature does not recover (${got.reason})`)
  return got.address
}

export interface ModelChainOptions {
  chainId?: number
  /** Number of funded dev keys (`devKeys(accounts, seed)`, as the embedded chain). */
  accounts?: number
  /** Seed of the dev keys. */
  seed?: string
  /** Ether given to each dev key, in wei (default 10^24, as the embedded chain). */
  balanceWei?: bigint
  /** The simulated clock in milliseconds: block timestamps follow it (default: always 0). */
  now?: () => number
  /** Mine a block per transaction (default) or only when asked. */
  automine?: boolean
  /** Block gas limit (default 60M, as the embedded chain). */
  blockGasLimit?: number
  /** Overrides of the measured gas constants (for `scripts/measure-model-gas.ts`, which measures them with zeros). */
  gasTable?: Partial<GasTable>
}

/** A call the model does not implement: a contract deployed as "calls unsupported", or a method outside the model. */
export class ModelChainUnsupportedError extends SoukError {
  override name = 'ModelChainUnsupportedError'
  constructor(readonly contract: string, readonly fn: string, opts: { hints?: string[] } = {}) {
    super(`The model chain does not model ${contract}.${fn}`, {
      code: 'MODEL_CHAIN_UNSUPPORTED',
      hints: opts.hints ?? [`Run this scenario on the embedded EVM (createChain({ kind: 'embedded' })): the model chain models SoukToken and TicketBroker only.`],
      details: { contract, function: fn },
    })
  }
}

/** A request the model chain refuses (a malformed transaction, a wrong nonce, too little ETH, an unknown method). */
export class ModelChainRequestError extends SoukError {
  override name = 'ModelChainRequestError'
  constructor(msg: string, readonly rpcCode = -32000, details: Record<string, unknown> = {}) {
    super(msg, { code: 'MODEL_CHAIN_REQUEST', details })
  }
}

// ---------------------------------------------------------------- gas

/**
 * What the code of each function costs beyond what the model meters itself (intrinsic gas, storage, logs, account
 * access): measured once on the embedded EVM (hardhat 2 / EDR, cancun, solc 0.8.37 via-IR with the optimizer, the
 * artifacts of this repository) by `npx tsx scripts/measure-model-gas.ts`, which runs the same transactions on both
 * chains with these constants at zero and prints, per function, the EVM's gasUsed less the model's. Deployments:
 * the whole creation (constructor, code deposit) less the intrinsic gas of the initcode. Rerun the script after a
 * contract or compiler change and paste its table here.
 */
export interface GasTable {
  /** A creation: the constructor and the code deposit (the initcode's intrinsic gas is metered). */
  deploy: Record<string, number>
  /** A top-level call of `Contract.function` (what it computes, its inner calls' computation included). */
  call: Record<string, number>
  /**
   * A mined transaction that reverts, by `Contract.function:Error` (else `Contract.function`): what the code
   * computed before the revert (with what it metered up to there). Unlisted reverts are charged the metered gas only.
   */
  revert: Record<string, number>
  /**
   * `redeemRuns`: `base + perTicket·N + perHalfWord·Σ⌈nᵢ/2⌉ + memory(W) + perExtraRun·(runs − 1) + perQueued·claims
   * (+ transfer when paid now)`, memory(W) = 3W + ⌊W²/512⌋ the EVM's memory cost at the call's peak of W words,
   * W = memoryWords + Σ over all runs but the last (wordsPerRun + ⌈nᵢ/2⌉) + 2⌈n_last/2⌉ (each run keeps its seqs
   * array and struct-hash buffer; the last one's TicketsRedeemed encoding is the peak).
   */
  redeemRuns: { base: number; perTicket: number; perHalfWord: number; memoryWords: number; wordsPerRun: number; perExtraRun: number; perQueued: number; transfer: number }
  /** `batchRedeemWinningTickets`: base, per ticket, per ticket queued as a claim (its transfer included). */
  redeemTicket: { base: number; perTicket: number; perQueued: number }
  /** `_payClaims`: per claim paid (its transfer included). */
  perClaimPaid: number
}

/*
 * Measured 2026-12-03 with `npx tsx scripts/measure-model-gas.ts` (embedded EVM: hardhat 2 / EDR, cancun; solc 0.8.37,
 * via-IR, optimizer; the artifacts of this commit). Each figure is the EVM's gasUsed less what the model meters for
 * the same transaction (calldata, storage, logs, account access), and was the same in every state the script ran the
 * function in (first/again, zero/non-zero slots); the redeemRuns formula was solved from its single runs of 1..32
 * tickets and its two-run batches, and fits every redeemRuns the script sends exactly (single runs up to 256 tickets,
 * batches of 2-4 runs of different sizes, credit mode). Paths the script did not measure (claims through the struct format, withdraw with
 * several recipients, settleClaims, a reverted transaction's partial execution) are approximate.
 */
export const MODEL_GAS: GasTable = {
  deploy: { SoukToken: 520_758, TicketBroker: 2_137_911, PaymentChannel: 1_185_286, ConcurrentLottery: 3_561_759 },
  call: {
    'SoukToken.faucet': 578, 'SoukToken.approve': 445, 'SoukToken.transfer': 760, 'SoukToken.transferFrom': 859,
    'TicketBroker.fundDeposit': 2121, 'TicketBroker.fundReserve': 2787, 'TicketBroker.unlock': 649, 'TicketBroker.cancelUnlock': 584,
    'TicketBroker.withdraw': 3110, 'TicketBroker.withdrawCredit': 1977, 'TicketBroker.settleClaims': 1500,
    // without its transfer (a face-0 ticket, as the void-tickets adversary redeems), and the transfer's part
    'TicketBroker.redeemWinningTicket': 6685, 'TicketBroker.redeemWinningTicket.transfer': 985,
  },
  revert: { 'TicketBroker.redeemWinningTicket:TicketBrokerNotRecipient': 610, 'TicketBroker.withdrawCredit:TicketBrokerNoCredit': 853 },
  redeemRuns: { base: 4521 - 791, perTicket: 4627, perHalfWord: 6, memoryWords: 27, wordsPerRun: 9, perExtraRun: 2224, perQueued: 528, transfer: 791 },
  redeemTicket: { base: 1891, perTicket: 6963, perQueued: 0 },
  perClaimPaid: 2846,
}

const G_COLD_SLOAD = 2100
const G_WARM = 100
const G_SSET = 20000
const G_SRESET = 2900
const R_SCLEAR = 4800
const G_COLD_ACCOUNT = 2600
const G_TX = 21000
const G_CREATE = 32000
const BASE_PRIORITY_FEE = 1_000_000_000n

function calldataGas(data: Uint8Array): number {
  let g = 0
  for (const b of data) g += b === 0 ? 4 : 16
  return g
}

// ---------------------------------------------------------------- storage with a journal and a gas meter

/** One transaction's view of the world's storage: EIP-2929 access sets, original values, gas, refunds, logs. */
class TxMeter {
  gas = 0
  refund = 0
  readonly original = new Map<string, bigint>()
  readonly warmSlots = new Set<string>()
  readonly warmAccounts = new Set<string>()
  readonly logs: { address: Address; topics: Hex[]; data: Hex }[] = []
  /** `Contract.function` of the transaction's own call (for the revert constants). */
  topCall?: string
  constructor(readonly storage: Map<string, bigint>) {}

  private touch(key: string, cur: bigint) {
    if (!this.original.has(key)) this.original.set(key, cur)
    if (this.warmSlots.has(key)) return false
    this.warmSlots.add(key)
    return true
  }

  get(key: string): bigint {
    const v = this.storage.get(key) ?? 0n
    this.gas += this.touch(key, v) ? G_COLD_SLOAD : G_WARM
    return v
  }

  set(key: string, v: bigint): void {
    const cur = this.storage.get(key) ?? 0n
    if (this.touch(key, cur)) this.gas += G_COLD_SLOAD
    const orig = this.original.get(key)!
    if (cur === v) this.gas += G_WARM
    else if (orig === cur) {
      this.gas += orig === 0n ? G_SSET : G_SRESET
      if (v === 0n) this.refund += R_SCLEAR
    } else {
      this.gas += G_WARM
      if (orig !== 0n) {
        if (cur === 0n) this.refund -= R_SCLEAR
        else if (v === 0n) this.refund += R_SCLEAR
      }
      if (orig === v) this.refund += orig === 0n ? G_SSET - G_WARM : G_SRESET - G_WARM
    }
    if (v === 0n) this.storage.delete(key)
    else this.storage.set(key, v)
  }

  account(addr: string): void {
    const a = addr.toLowerCase()
    if (this.warmAccounts.has(a)) this.gas += G_WARM
    else { this.warmAccounts.add(a); this.gas += G_COLD_ACCOUNT }
  }

  /** Puts every touched slot back (a reverted transaction, or any eth_call). */
  rollback(): void {
    for (const [k, v] of this.original) {
      if (v === 0n) this.storage.delete(k)
      else this.storage.set(k, v)
    }
    this.logs.length = 0
  }
}

/** A revert with ABI-encoded data (a custom error, a Panic, or empty). */
class Revert extends Error {
  constructor(readonly data: Hex, readonly errorName: string) {
    super(`execution reverted: ${errorName}`)
  }
}

// ---------------------------------------------------------------- artifacts

interface Artifact { name: string; abi: Abi; bytecode: Hex; deployedBytecode: Hex }

const ARTIFACT_NAMES = ['SoukToken', 'TicketBroker', 'PaymentChannel', 'ConcurrentLottery', 'MarketDeals', 'StorageMarket', 'WorkMarket'] as const

let artifactCache: Artifact[] | undefined
function artifacts(): Artifact[] {
  artifactCache ??= ARTIFACT_NAMES.map((name) => {
    const j = JSON.parse(readFileSync(new URL(`../../artifacts/${name}.json`, import.meta.url), 'utf8')) as { abi: Abi; bytecode: Hex; deployedBytecode: Hex }
    return { name, abi: j.abi, bytecode: j.bytecode.toLowerCase() as Hex, deployedBytecode: j.deployedBytecode }
  }).sort((a, b) => b.bytecode.length - a.bytecode.length)
  return artifactCache
}

const artifactByName = (n: string) => artifacts().find((a) => a.name === n)!

// ---------------------------------------------------------------- contract models

interface CallEnv {
  meter: TxMeter
  /** msg.sender */
  sender: Address
  /** The contract's own address. */
  self: Address
  blockNumber: bigint
  timestamp: bigint
  chainId: number
  /** Calls another modelled contract with msg.sender = this contract. */
  call(to: Address, fn: string, args: readonly unknown[]): unknown
  emit(eventName: string, args: Record<string, unknown>): void
  revert(errorName: string, args?: readonly unknown[]): never
  /** Adds a measured constant to the transaction's gas. */
  charge(gas: number): void
  gas: GasTable
  /** Whether this is the transaction's own call (function constants are charged once, at the top). */
  top: boolean
}

interface ContractModel {
  readonly name: string
  readonly abi: Abi
  /** Functions the model implements: (env, args) ↦ the result (a value, or an array for several outputs). */
  readonly fns: Record<string, (env: CallEnv, args: readonly any[]) => unknown>
}

const MAX_UINT = (1n << 256n) - 1n
const lower = (a: string) => a.toLowerCase()
const addrBig = (a: string) => BigInt(a)
const bigAddr = (v: bigint) => getAddress(`0x${v.toString(16).padStart(40, '0')}`)
const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000'

function panic(env: CallEnv, code: number): never {
  env.revert('Panic', [BigInt(code)])
}

/** What `redeemRuns` computes beyond what is metered, for runs of `sizes` tickets (see `GasTable.redeemRuns`). */
export function redeemRunsGas(g: GasTable, sizes: readonly number[], queued: number): number {
  const r = g.redeemRuns
  const halves = sizes.map((n) => Math.ceil(n / 2))
  const N = sizes.reduce((a, b) => a + b, 0)
  let W = r.memoryWords + 2 * halves[halves.length - 1]!
  for (let i = 0; i < halves.length - 1; i++) W += r.wordsPerRun + halves[i]!
  // (memoryWords 0: the measuring script's zero table, nothing but the metered gas)
  const mem = (w: number) => (r.memoryWords === 0 ? 0 : 3 * w + Math.floor((w * w) / 512))
  return r.base + r.perTicket * N + r.perHalfWord * halves.reduce((a, b) => a + b, 0) + mem(W) + r.perExtraRun * (sizes.length - 1) + r.perQueued * queued
}

/** SoukToken: OpenZeppelin 5 ERC-20 with a capped faucet. Storage: balances, allowances, total supply. */
function soukTokenModel(args: readonly unknown[]): ContractModel {
  const [name, symbol, faucetCap] = args as [string, string, bigint]
  const bal = (a: string) => `b:${lower(a)}`
  const allow = (o: string, s: string) => `a:${lower(o)}:${lower(s)}`
  function update(env: CallEnv, from: string, to: string, value: bigint) {
    const m = env.meter
    if (lower(from) === ZERO_ADDRESS) {
      const ts = m.get('ts')
      if (ts + value > MAX_UINT) panic(env, 0x11)
      m.set('ts', ts + value)
    } else {
      const fb = m.get(bal(from))
      if (fb < value) env.revert('ERC20InsufficientBalance', [getAddress(from), fb, value])
      m.set(bal(from), fb - value)
    }
    if (lower(to) === ZERO_ADDRESS) m.set('ts', m.get('ts') - value)
    else m.set(bal(to), (m.get(bal(to)) + value) & MAX_UINT)
    env.emit('Transfer', { from, to, value })
  }
  function transfer(env: CallEnv, from: string, to: string, value: bigint) {
    if (lower(from) === ZERO_ADDRESS) env.revert('ERC20InvalidSender', [ZERO_ADDRESS])
    if (lower(to) === ZERO_ADDRESS) env.revert('ERC20InvalidReceiver', [ZERO_ADDRESS])
    update(env, from, to, value)
  }
  function approve(env: CallEnv, owner: string, spender: string, value: bigint, emitEvent: boolean) {
    if (lower(owner) === ZERO_ADDRESS) env.revert('ERC20InvalidApprover', [ZERO_ADDRESS])
    if (lower(spender) === ZERO_ADDRESS) env.revert('ERC20InvalidSpender', [ZERO_ADDRESS])
    env.meter.set(allow(owner, spender), value)
    if (emitEvent) env.emit('Approval', { owner, spender, value })
  }
  const c = (env: CallEnv, key: string) => { if (env.top) env.charge(env.gas.call[`SoukToken.${key}`] ?? 0) }
  return {
    name: 'SoukToken',
    abi: artifactByName('SoukToken').abi,
    fns: {
      name: () => name,
      symbol: () => symbol,
      decimals: () => 18,
      faucetCap: () => faucetCap,
      totalSupply: (env) => env.meter.get('ts'),
      balanceOf: (env, [a]) => env.meter.get(bal(a)),
      allowance: (env, [o, s]) => env.meter.get(allow(o, s)),
      approve(env, [spender, value]) {
        approve(env, env.sender, spender, value, true)
        c(env, 'approve')
        return true
      },
      transfer(env, [to, value]) {
        transfer(env, env.sender, to, value)
        c(env, 'transfer')
        return true
      },
      transferFrom(env, [from, to, value]) {
        const cur = env.meter.get(allow(from, env.sender))
        if (cur < MAX_UINT) {
          if (cur < value) env.revert('ERC20InsufficientAllowance', [env.sender, cur, value])
          approve(env, from, env.sender, cur - value, false)
        }
        transfer(env, from, to, value)
        c(env, 'transferFrom')
        return true
      },
      faucet(env, [to, amount]) {
        if (amount > faucetCap) env.revert('SoukTokenFaucetCapExceeded', [amount, faucetCap])
        if (lower(to) === ZERO_ADDRESS) env.revert('ERC20InvalidReceiver', [ZERO_ADDRESS])
        update(env, ZERO_ADDRESS, to, amount)
        env.emit('FaucetDripped', { to, amount })
        c(env, 'faucet')
      },
    },
  }
}

const TICKET_TYPEHASH = typeHash('Ticket(address recipient,address sender,uint256 faceValue,uint256 winProb,uint256 senderNonce,bytes32 recipientRandHash,uint256 expirationBlock)')
const U128 = (1n << 128n) - 1n
const wordHex = (b: Uint8Array) => toHex(b)

/** keccak256(abi.encode(v)) of one word. */
function hashWord(v: bigint): Uint8Array {
  const b = new Uint8Array(32)
  writeWord(b, 0, v)
  return keccak256(b)
}

/**
 * TicketBroker (contracts/TicketBroker.sol), function by function: the same checks in the same order, the same
 * storage words (read and written as the Solidity does, for the gas meter), the same events and custom errors.
 */
function ticketBrokerModel(args: readonly unknown[], self: Address, chainId: number): ContractModel {
  const [tokenArg, unlockPeriod] = args as [Address, bigint]
  const token = getAddress(tokenArg)
  const domain = eip712Domain('Souk TicketBroker', '1', chainId, self)
  const K = {
    dep: (s: string) => `d:${lower(s)}`,
    wb: (s: string) => `w:${lower(s)}`,
    debt: (s: string) => `debt:${lower(s)}`,
    res: (s: string, r: string) => `r:${lower(s)}:${lower(r)}`,
    lane: (s: string, r: string, lane: bigint) => `l:${lower(s)}:${lower(r)}:${lane}`,
    clen: (s: string) => `cl:${lower(s)}`,
    crec: (s: string, i: bigint) => `cr:${lower(s)}:${i}`,
    camt: (s: string, i: bigint) => `ca:${lower(s)}:${i}`,
    head: (s: string) => `ch:${lower(s)}`,
    credit: (r: string) => `cred:${lower(r)}`,
  }

  function structHash(recipient: string, sender: string, face: bigint, winProb: bigint, nonce: bigint, randHash: Uint8Array, expiry: bigint): Uint8Array {
    const b = new Uint8Array(256)
    b.set(TICKET_TYPEHASH, 0)
    writeAddress(b, 32, recipient)
    writeAddress(b, 64, sender)
    writeWord(b, 96, face)
    writeWord(b, 128, winProb)
    writeWord(b, 160, nonce)
    b.set(randHash, 192)
    writeWord(b, 224, expiry)
    return keccak256(b)
  }

  /**
   * OpenZeppelin ECDSA.tryRecover(hash, v, r, s) == expected: high s, v ∉ {27, 28} and unrecoverable pairs fail.
   * Recoveries are remembered (bounded): a transaction is executed twice, estimated then mined, and recovery is
   * most of what a redemption costs the model.
   */
  function signedBy(digest: Uint8Array, r: bigint, s: bigint, v: number, expected: string): boolean {
    if (s > SECP256K1_HALF_N) return false
    if (v !== 27 && v !== 28) return false
    const sig = new Uint8Array(65)
    writeWord(sig, 0, r)
    writeWord(sig, 32, s)
    sig[64] = v
    const key = `${Buffer.from(digest).toString('latin1')}${Buffer.from(sig).toString('latin1')}`
    let signer = recovered.get(key)
    if (signer === undefined) {
      const got = recoverDigest(digest, sig)
      signer = got.ok ? lower(got.address) : ''
      if (recovered.size >= 8192) recovered.clear()
      recovered.set(key, signer)
    }
    return signer !== '' && signer === lower(expected)
  }
  const recovered = new Map<string, string>()

  function draw(r: bigint, s: bigint, v: number, rand: bigint): bigint {
    const b = new Uint8Array(97)
    writeWord(b, 0, r)
    writeWord(b, 32, s)
    b[64] = v
    writeWord(b, 65, rand)
    return readWord(keccak256(b))
  }

  function tokenCall(env: CallEnv, fn: string, a: readonly unknown[]) {
    env.call(token, fn, a)
  }

  /** _payClaims: up to 32 of `sender`'s claims from its deposit, effects first, then the transfers. */
  function payClaims(env: CallEnv, sender: string) {
    const m = env.meter
    if (m.get(K.debt(sender)) === 0n || m.get(K.dep(sender)) === 0n) return
    let head = m.get(K.head(sender))
    const end = m.get(K.clen(sender))
    const out: [Address, bigint][] = []
    for (let k = 0; k < 32 && head < end && m.get(K.dep(sender)) !== 0n; k++) {
      const amt = m.get(K.camt(sender, head))
      const dep = m.get(K.dep(sender))
      const pay = amt <= dep ? amt : dep
      m.set(K.dep(sender), dep - pay)
      m.set(K.debt(sender), m.get(K.debt(sender)) - pay)
      m.set(K.camt(sender, head), amt - pay)
      const rcp = bigAddr(m.get(K.crec(sender, head)))
      out.push([rcp, pay])
      env.emit('ClaimPaid', { sender, recipient: rcp, amount: pay, remaining: amt - pay })
      if (amt - pay === 0n) {
        m.set(K.crec(sender, head), 0n)
        m.set(K.camt(sender, head), 0n)
        head++
      }
    }
    m.set(K.head(sender), head)
    for (const [to, amt] of out) {
      tokenCall(env, 'transfer', [to, amt])
      env.charge(env.gas.perClaimPaid)
    }
  }

  function pushClaim(env: CallEnv, sender: string, recipient: string, face: bigint) {
    const m = env.meter
    const len = m.get(K.clen(sender))
    m.set(K.clen(sender), len + 1n)
    m.set(K.crec(sender, len), addrBig(recipient))
    m.set(K.camt(sender, len), face)
  }

  interface SignedTicketArg {
    ticket: { recipient: Address; sender: Address; faceValue: bigint; winProb: bigint; senderNonce: bigint; recipientRandHash: Hex; expirationBlock: bigint }
    r: Hex; s: Hex; v: number; recipientRand: bigint
  }

  /** _redeem: one ticket's checks, its nonce consumed, the sender debited; returns what to transfer now. */
  function redeem(env: CallEnv, st: SignedTicketArg, counts: { queued: number }): bigint {
    const m = env.meter
    const t = st.ticket
    if (lower(t.recipient) !== lower(env.sender)) env.revert('TicketBrokerNotRecipient', [t.recipient, env.sender])
    if (lower(t.sender) === ZERO_ADDRESS) env.revert('TicketBrokerZeroAddress')
    if (env.blockNumber > t.expirationBlock) env.revert('TicketBrokerTicketExpired', [t.expirationBlock, env.blockNumber])
    if (wordHex(hashWord(st.recipientRand)) !== lower(t.recipientRandHash)) env.revert('TicketBrokerInvalidRecipientRand', [t.recipientRandHash, st.recipientRand])
    const lane = t.senderNonce >> 128n
    const seq = t.senderNonce & U128
    const lk = K.lane(t.sender, t.recipient, lane)
    const next = m.get(lk)
    if (seq < next) env.revert('TicketBrokerNonceUsed', [t.sender, t.recipient, t.senderNonce, (lane << 128n) | next])
    const digest = eip712Digest(domain, structHash(t.recipient, t.sender, t.faceValue, t.winProb, t.senderNonce, hexToBytes(t.recipientRandHash), t.expirationBlock))
    const r = BigInt(st.r), s = BigInt(st.s)
    if (!signedBy(digest, r, s, st.v, t.sender)) env.revert('TicketBrokerInvalidSignature', [t.sender])
    const d = draw(r, s, st.v, st.recipientRand)
    if (d >= t.winProb) env.revert('TicketBrokerNotWinning', [d, t.winProb])
    m.set(lk, seq + 1n)
    const face = t.faceValue
    const reserve = m.get(K.res(t.sender, t.recipient))
    const dep = m.get(K.debt(t.sender)) === 0n ? m.get(K.dep(t.sender)) : 0n
    if (dep + reserve < face) {
      m.set(K.debt(t.sender), m.get(K.debt(t.sender)) + face)
      pushClaim(env, t.sender, t.recipient, face)
      env.emit('ClaimQueued', { sender: t.sender, recipient: t.recipient, faceValue: face, senderNonce: t.senderNonce })
      counts.queued++
      return 0n
    }
    const fromDeposit = face <= dep ? face : dep
    const fromReserve = face - fromDeposit
    m.set(K.dep(t.sender), m.get(K.dep(t.sender)) - fromDeposit)
    if (fromReserve !== 0n) m.set(K.res(t.sender, t.recipient), reserve - fromReserve)
    env.emit('WinningTicketRedeemed', { sender: t.sender, recipient: t.recipient, faceValue: face, senderNonce: t.senderNonce, fromDeposit, fromReserve })
    return face
  }

  interface RunArg { sender: Address; faceValue: bigint; winProb: bigint; expirationBlock: bigint; lane: bigint; tickets: Hex }

  /** _redeemRun: one run of the packed format, the lane word and the sender's balances read once, written once. */
  function redeemRun(env: CallEnv, run: RunArg, index: number, counts: { queued: number }, sizes: number[]): bigint {
    const m = env.meter
    const data = hexToBytes(run.tickets)
    const n = Math.floor(data.length / 112)
    if (n === 0 || data.length !== n * 112) env.revert('TicketBrokerBadRun', [BigInt(index), BigInt(data.length)])
    const sender = run.sender
    if (lower(sender) === ZERO_ADDRESS) env.revert('TicketBrokerZeroAddress')
    if (env.blockNumber > run.expirationBlock) env.revert('TicketBrokerTicketExpired', [run.expirationBlock, env.blockNumber])
    const lane = run.lane
    const face = run.faceValue
    const winProb = run.winProb
    const me = env.sender
    const lk = K.lane(sender, me, lane)
    let next = m.get(lk)
    let deposit = m.get(K.dep(sender))
    let debt = m.get(K.debt(sender))
    const debt0 = debt
    let reserve = 0n
    let reserveRead = false
    let fromDeposit = 0n
    const seqs: bigint[] = []
    for (let k = 0; k < n; k++) {
      const p = k * 112
      const seq = readWord(Uint8Array.from([...new Uint8Array(16), ...data.subarray(p, p + 16)]))
      const r = readWord(data, p + 16)
      const vs = readWord(data, p + 48)
      const rand = readWord(data, p + 80)
      const nonce = (lane << 128n) | seq
      if (seq < next) env.revert('TicketBrokerNonceUsed', [sender, me, nonce, (lane << 128n) | next])
      const s = vs & ((1n << 255n) - 1n)
      const v = Number(vs >> 255n) + 27
      const digest = eip712Digest(domain, structHash(me, sender, face, winProb, nonce, hashWord(rand), run.expirationBlock))
      if (!signedBy(digest, r, s, v, sender)) env.revert('TicketBrokerInvalidSignature', [sender])
      const d = draw(r, s, v, rand)
      if (d >= winProb) env.revert('TicketBrokerNotWinning', [d, winProb])
      next = seq + 1n
      const dep = debt === 0n ? deposit : 0n
      if (dep < face && !reserveRead) {
        reserve = m.get(K.res(sender, me))
        reserveRead = true
      }
      if (dep + reserve < face) {
        debt += face
        pushClaim(env, sender, me, face)
        env.emit('ClaimQueued', { sender, recipient: me, faceValue: face, senderNonce: nonce })
        counts.queued++
        continue
      }
      const dd = face <= dep ? face : dep
      deposit -= dd
      reserve -= face - dd
      fromDeposit += dd
      seqs.push(seq)
    }
    sizes.push(n)
    m.set(lk, next)
    m.set(K.dep(sender), deposit)
    if (debt !== debt0) m.set(K.debt(sender), debt)
    if (reserveRead) m.set(K.res(sender, me), reserve)
    if (seqs.length === 0) return 0n
    const packed = new Uint8Array(seqs.length * 16)
    seqs.forEach((q, i) => {
      const w = new Uint8Array(32)
      writeWord(w, 0, q)
      packed.set(w.subarray(16), i * 16)
    })
    const paid = face * BigInt(seqs.length)
    env.emit('TicketsRedeemed', { sender, recipient: me, lane, faceValue: face, fromDeposit, fromReserve: paid - fromDeposit, seqs: toHex(packed) })
    return paid
  }

  const c = (env: CallEnv, key: string) => { if (env.top) env.charge(env.gas.call[`TicketBroker.${key}`] ?? 0) }

  return {
    name: 'TicketBroker',
    abi: artifactByName('TicketBroker').abi,
    fns: {
      TICKET_TYPEHASH: () => toHex(TICKET_TYPEHASH),
      token: () => token,
      unlockPeriod: () => unlockPeriod,
      eip712Domain: (env) => ['0x0f', 'Souk TicketBroker', '1', BigInt(env.chainId), self, `0x${'00'.repeat(32)}`, []],
      getSender: (env, [s]) => [env.meter.get(K.dep(s)), env.meter.get(K.wb(s)), env.meter.get(K.debt(s))],
      reserveOf: (env, [s, r]) => env.meter.get(K.res(s, r)),
      nextNonce(env, [s, r, lane]) {
        if (lane > U128) env.revert('TicketBrokerLaneOutOfRange', [lane])
        return (lane << 128n) | env.meter.get(K.lane(s, r, lane))
      },
      creditOf: (env, [r]) => env.meter.get(K.credit(r)),
      pendingClaims: (env, [s]) => env.meter.get(K.clen(s)) - env.meter.get(K.head(s)),
      ticketDigest: (_env, [t]) => toHex(eip712Digest(domain, structHash(t.recipient, t.sender, t.faceValue, t.winProb, t.senderNonce, hexToBytes(t.recipientRandHash), t.expirationBlock))),
      isWinning: (_env, [r, s, v, rand, winProb]) => draw(BigInt(r), BigInt(s), Number(v), rand) < winProb,

      fundDeposit(env, [amount]) {
        if (amount === 0n) env.revert('TicketBrokerZeroAmount')
        tokenCall(env, 'transferFrom', [env.sender, self, amount])
        const m = env.meter
        const dep = m.get(K.dep(env.sender)) + amount
        m.set(K.dep(env.sender), dep)
        env.emit('DepositFunded', { sender: env.sender, amount, deposit: dep })
        payClaims(env, env.sender)
        c(env, 'fundDeposit')
      },
      fundReserve(env, [recipient, amount]) {
        if (amount === 0n) env.revert('TicketBrokerZeroAmount')
        if (lower(recipient) === ZERO_ADDRESS) env.revert('TicketBrokerZeroAddress')
        tokenCall(env, 'transferFrom', [env.sender, self, amount])
        const m = env.meter
        const debt = m.get(K.debt(env.sender))
        const dep = m.get(K.dep(env.sender))
        const uncovered = debt > dep ? debt - dep : 0n
        const toClaims = uncovered <= amount ? uncovered : amount
        const toReserve: bigint = (amount as bigint) - toClaims
        m.set(K.dep(env.sender), dep + toClaims)
        const reserve = m.get(K.res(env.sender, recipient)) + toReserve
        m.set(K.res(env.sender, recipient), reserve)
        env.emit('ReserveFunded', { sender: env.sender, recipient, amount: toReserve, reserve })
        payClaims(env, env.sender)
        c(env, 'fundReserve')
      },
      unlock(env) {
        const m = env.meter
        const wb = m.get(K.wb(env.sender))
        if (wb !== 0n) env.revert('TicketBrokerAlreadyUnlocking', [env.sender, wb])
        const at = env.blockNumber + unlockPeriod
        m.set(K.wb(env.sender), at)
        env.emit('UnlockStarted', { sender: env.sender, withdrawBlock: at })
        c(env, 'unlock')
      },
      cancelUnlock(env) {
        const m = env.meter
        if (m.get(K.wb(env.sender)) === 0n) env.revert('TicketBrokerNotUnlocked', [env.sender])
        m.set(K.wb(env.sender), 0n)
        env.emit('UnlockCancelled', { sender: env.sender })
        c(env, 'cancelUnlock')
      },
      withdraw(env, [recipients]) {
        const m = env.meter
        const me = env.sender
        const wb = m.get(K.wb(me))
        if (wb === 0n) env.revert('TicketBrokerNotUnlocked', [me])
        if (env.blockNumber < wb) env.revert('TicketBrokerUnlockPending', [me, wb, env.blockNumber])
        payClaims(env, me)
        const debt = m.get(K.debt(me))
        if (debt !== 0n) env.revert('TicketBrokerClaimsOutstanding', [me, debt])
        const dep = m.get(K.dep(me))
        let res = 0n
        for (const r of recipients as Address[]) {
          res += m.get(K.res(me, r))
          m.set(K.res(me, r), 0n)
        }
        if (dep + res === 0n) env.revert('TicketBrokerNothingToWithdraw', [me])
        m.set(K.dep(me), 0n)
        m.set(K.wb(me), 0n)
        env.emit('Withdrawn', { sender: me, deposit: dep, reserves: res })
        tokenCall(env, 'transfer', [me, dep + res])
        c(env, 'withdraw')
      },
      redeemWinningTicket(env, [st]) {
        const pay = redeem(env, st as SignedTicketArg, { queued: 0 })
        if (pay !== 0n) {
          tokenCall(env, 'transfer', [(st as SignedTicketArg).ticket.recipient, pay])
          c(env, 'redeemWinningTicket.transfer')
        }
        c(env, 'redeemWinningTicket')
      },
      batchRedeemWinningTickets(env, [tickets]) {
        const list = tickets as SignedTicketArg[]
        if (list.length === 0) return
        const counts = { queued: 0 }
        let total = 0n
        for (const st of list) total += redeem(env, st, counts)
        const g = env.gas.redeemTicket
        env.charge(g.base + g.perTicket * list.length + g.perQueued * counts.queued)
        if (total !== 0n) tokenCall(env, 'transfer', [env.sender, total])
      },
      redeemRuns(env, [runs, payNow]) {
        const list = runs as RunArg[]
        const counts = { queued: 0 }
        const sizes: number[] = []
        let total = 0n
        list.forEach((run, i) => { total += redeemRun(env, run, i, counts, sizes) })
        if (list.length > 0) env.charge(redeemRunsGas(env.gas, sizes, counts.queued))
        if (total === 0n) return
        if (payNow) {
          tokenCall(env, 'transfer', [env.sender, total])
          env.charge(env.gas.redeemRuns.transfer)
        } else {
          const m = env.meter
          m.set(K.credit(env.sender), m.get(K.credit(env.sender)) + total)
        }
      },
      withdrawCredit(env) {
        const m = env.meter
        const amount = m.get(K.credit(env.sender))
        if (amount === 0n) env.revert('TicketBrokerNoCredit', [env.sender])
        m.set(K.credit(env.sender), 0n)
        env.emit('CreditWithdrawn', { recipient: env.sender, amount })
        tokenCall(env, 'transfer', [env.sender, amount])
        c(env, 'withdrawCredit')
      },
      settleClaims(env, [sender]) {
        payClaims(env, sender)
        c(env, 'settleClaims')
      },
    },
  }
}

// ---------------------------------------------------------------- the world

interface ContractRecord {
  name: string
  abi: Abi
  code: Hex
  /** undefined: deployed, calls unsupported. */
  model?: ContractModel
}

interface TxRecord {
  hash: Hex
  from: Address
  to: Address | null
  nonce: number
  value: bigint
  gas: bigint
  input: Hex
  type: 'legacy' | 'eip2930' | 'eip1559'
  maxFeePerGas?: bigint
  maxPriorityFeePerGas?: bigint
  gasPrice?: bigint
  chainId?: number
  r: Hex; s: Hex; v: bigint; yParity?: number
  blockNumber?: bigint
  blockHash?: Hex
  index?: number
  receipt?: ReceiptRecord
  /** The revert of a failed transaction (its data), replayed by eth_call at its parent block. */
  revertData?: Hex
}

interface ReceiptRecord {
  gasUsed: bigint
  cumulativeGasUsed: bigint
  effectiveGasPrice: bigint
  status: 'success' | 'reverted'
  contractAddress: Address | null
  logs: LogRecord[]
}

interface LogRecord {
  address: Address
  topics: Hex[]
  data: Hex
  blockNumber: bigint
  blockHash: Hex
  transactionHash: Hex
  transactionIndex: number
  logIndex: number
}

interface BlockRecord {
  number: bigint
  hash: Hex
  parentHash: Hex
  timestamp: bigint
  baseFeePerGas: bigint
  gasLimit: bigint
  gasUsed: bigint
  txs: Hex[]
  logs: LogRecord[]
}

interface WorldState {
  accounts: Map<string, { balance: bigint; nonce: number }>
  storage: Map<string, bigint>
  contracts: Map<string, ContractRecord>
  blocks: BlockRecord[]
  blockByHash: Map<string, BlockRecord>
  txs: Map<string, TxRecord>
  pending: TxRecord[]
  nextTimestamp?: bigint
  timeOffset: bigint
}

function cloneWorld(w: WorldState): WorldState {
  const accounts = new Map<string, { balance: bigint; nonce: number }>()
  for (const [k, v] of w.accounts) accounts.set(k, { ...v })
  const txs = new Map<string, TxRecord>()
  for (const [k, v] of w.txs) txs.set(k, v)
  return {
    accounts, storage: new Map(w.storage), contracts: new Map(w.contracts), blocks: [...w.blocks], blockByHash: new Map(w.blockByHash), txs,
    pending: [...w.pending], nextTimestamp: w.nextTimestamp, timeOffset: w.timeOffset,
  }
}

const hexN = (v: bigint | number) => `0x${v.toString(16)}` as Hex
const ZERO32 = `0x${'00'.repeat(32)}` as Hex
const EMPTY_BLOOM = `0x${'00'.repeat(256)}` as Hex

function nextBaseFee(parent: BlockRecord): bigint {
  const target = parent.gasLimit / 2n
  const used = parent.gasUsed
  if (used === target) return parent.baseFeePerGas
  if (used > target) {
    const delta = (parent.baseFeePerGas * (used - target)) / target / 8n
    return parent.baseFeePerGas + (delta > 1n ? delta : 1n)
  }
  return parent.baseFeePerGas - (parent.baseFeePerGas * (target - used)) / target / 8n
}

function blockHash(b: Omit<BlockRecord, 'hash' | 'logs'>): Hex {
  const txRoot = b.txs.length ? viemKeccak(`0x${b.txs.map((h) => h.slice(2)).join('')}`) : ZERO32
  return viemKeccak(encodeAbiParameters(
    [{ type: 'bytes32' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'bytes32' }],
    [b.parentHash, b.number, b.timestamp, b.baseFeePerGas, b.gasLimit, b.gasUsed, txRoot],
  ))
}

function rpcError(message: string, code: number, data?: Hex): Error {
  return Object.assign(new Error(message), { code, ...(data !== undefined ? { data } : {}) })
}

/** The provider: an Ethereum node's JSON-RPC over the world above. Exported for tests and the benchmark. */
export class ModelProvider implements Eip1193Provider {
  private w: WorldState
  private snapshots = new Map<string, WorldState>()
  private snapshotSeq = 0
  private automine: boolean
  readonly keys: Hex[]
  private readonly addresses: Address[]
  readonly chainId: number
  private readonly gasTable: GasTable
  private readonly now: () => number
  private readonly gasLimit: bigint
  /** Serializes requests: one at a time, as a node does. */
  private queue: Promise<unknown> = Promise.resolve()

  constructor(opts: ModelChainOptions = {}) {
    this.chainId = opts.chainId ?? DEFAULT_CHAIN_ID
    this.keys = devKeys(opts.accounts ?? 20, opts.seed)
    this.now = opts.now ?? (() => 0)
    this.automine = opts.automine ?? true
    this.gasLimit = BigInt(opts.blockGasLimit ?? 60_000_000)
    this.gasTable = {
      ...MODEL_GAS, ...opts.gasTable,
      deploy: { ...MODEL_GAS.deploy, ...opts.gasTable?.deploy },
      call: { ...MODEL_GAS.call, ...opts.gasTable?.call },
      revert: { ...MODEL_GAS.revert, ...opts.gasTable?.revert },
      redeemRuns: { ...MODEL_GAS.redeemRuns, ...opts.gasTable?.redeemRuns },
      redeemTicket: { ...MODEL_GAS.redeemTicket, ...opts.gasTable?.redeemTicket },
    }
    const accounts = new Map<string, { balance: bigint; nonce: number }>()
    // src/crypto's native secp256k1: a simulation may ask for 10^4 or more dev keys.
    this.addresses = this.keys.map((k) => lower(addressOf(hexToBytes(k))) as Address)
    for (const a of this.addresses) accounts.set(a, { balance: opts.balanceWei ?? 10n ** 24n, nonce: 0 })
    const genesis: Omit<BlockRecord, 'hash' | 'logs'> = {
      number: 0n, parentHash: ZERO32, timestamp: BigInt(Math.floor(this.now() / 1000)), baseFeePerGas: 1_000_000_000n, gasLimit: this.gasLimit, gasUsed: 0n, txs: [],
    }
    const g: BlockRecord = { ...genesis, hash: blockHash(genesis), logs: [] }
    this.w = { accounts, storage: new Map(), contracts: new Map(), blocks: [g], blockByHash: new Map([[g.hash, g]]), txs: new Map(), pending: [], timeOffset: 0n }
  }

  request(args: { method: string; params?: unknown[] | Record<string, unknown> }): Promise<unknown> {
    const run = this.queue.then(() => this.handle(args.method, (args.params ?? []) as unknown[]))
    this.queue = run.catch(() => undefined)
    return run
  }

  private get latest(): BlockRecord { return this.w.blocks[this.w.blocks.length - 1]! }

  private account(a: string) {
    const k = lower(a)
    let acc = this.w.accounts.get(k)
    if (!acc) { acc = { balance: 0n, nonce: 0 }; this.w.accounts.set(k, acc) }
    return acc
  }

  private blockOf(tag: unknown): BlockRecord | undefined {
    if (tag === undefined || tag === 'latest' || tag === 'pending' || tag === 'safe' || tag === 'finalized') return this.latest
    if (tag === 'earliest') return this.w.blocks[0]
    if (typeof tag === 'object' && tag !== null) {
      const t = tag as { blockHash?: Hex; blockNumber?: Hex }
      if (t.blockHash) return this.w.blockByHash.get(lower(t.blockHash))
      if (t.blockNumber) return this.w.blocks[Number(BigInt(t.blockNumber))]
    }
    return this.w.blocks[Number(BigInt(tag as string))]
  }

  private async handle(method: string, p: unknown[]): Promise<unknown> {
    switch (method) {
      case 'eth_chainId': return hexN(this.chainId)
      case 'net_version': return String(this.chainId)
      case 'web3_clientVersion': return 'souk-model-chain/1'
      case 'eth_syncing': return false
      case 'eth_accounts': return this.addresses
      case 'eth_coinbase': return ZERO_ADDRESS
      case 'eth_blockNumber': return hexN(this.latest.number)
      case 'eth_gasPrice': return hexN(nextBaseFee(this.latest) + BASE_PRIORITY_FEE)
      case 'eth_maxPriorityFeePerGas': return hexN(BASE_PRIORITY_FEE)
      case 'eth_feeHistory': return this.feeHistory(p)
      case 'eth_getBalance': return hexN(this.w.accounts.get(lower(p[0] as string))?.balance ?? 0n)
      case 'eth_getTransactionCount': {
        const a = lower(p[0] as string)
        const base = this.w.accounts.get(a)?.nonce ?? 0
        return hexN(p[1] === 'pending' ? base + this.w.pending.filter((t) => lower(t.from) === a).length : base)
      }
      case 'eth_getCode': return this.w.contracts.get(lower(p[0] as string))?.code ?? '0x'
      case 'eth_getBlockByNumber': { const b = this.blockOf(p[0]); return b ? this.formatBlock(b, p[1] === true) : null }
      case 'eth_getBlockByHash': { const b = this.w.blockByHash.get(lower(p[0] as string)); return b ? this.formatBlock(b, p[1] === true) : null }
      case 'eth_getTransactionByHash': { const t = this.w.txs.get(lower(p[0] as string)); return t ? this.formatTx(t) : null }
      case 'eth_getTransactionReceipt': { const t = this.w.txs.get(lower(p[0] as string)); return t?.receipt ? this.formatReceipt(t) : null }
      case 'eth_getLogs': return this.getLogs(p[0] as Record<string, unknown>)
      case 'eth_call': return this.ethCall(p[0] as Record<string, Hex>, p[1])
      case 'eth_estimateGas': return this.estimateGas(p[0] as Record<string, Hex>)
      case 'eth_sendRawTransaction': return this.sendRaw(p[0] as Hex)
      case 'evm_mine': {
        if (p[0] !== undefined) this.w.nextTimestamp = BigInt(p[0] as number | string)
        this.mine(this.takePending())
        return '0'
      }
      case 'hardhat_mine': {
        const n = p[0] === undefined ? 1 : Number(BigInt(p[0] as string))
        const interval = p[1] === undefined ? 1n : BigInt(p[1] as string)
        for (let i = 0; i < n; i++) {
          if (i > 0) this.w.nextTimestamp = this.latest.timestamp + interval
          this.mine(i === 0 ? this.takePending() : [])
        }
        return true
      }
      case 'evm_setAutomine': {
        this.automine = p[0] === true
        if (this.automine && this.w.pending.length) this.mine(this.takePending())
        return true
      }
      case 'evm_setNextBlockTimestamp': { this.w.nextTimestamp = BigInt(p[0] as number | string); return true }
      case 'evm_increaseTime': { this.w.timeOffset += BigInt(p[0] as number | string); return hexN(this.w.timeOffset) }
      case 'hardhat_setBalance': { this.account(p[0] as string).balance = BigInt(p[1] as string); return true }
      case 'evm_snapshot': {
        const id = hexN(++this.snapshotSeq)
        this.snapshots.set(id, cloneWorld(this.w))
        return id
      }
      case 'evm_revert': {
        const id = hexN(BigInt(p[0] as string))
        const s = this.snapshots.get(id)
        if (!s) return false
        this.w = s
        // A snapshot is restored once; it and every later one are gone (as hardhat does).
        for (const k of [...this.snapshots.keys()]) if (BigInt(k) >= BigInt(id)) this.snapshots.delete(k)
        return true
      }
      case 'eth_fillTransaction':
      default:
        throw rpcError(`Method ${method} is not supported by the model chain`, -32601)
    }
  }

  private feeHistory(p: unknown[]) {
    const count = Math.max(1, Math.min(1024, Number(BigInt(p[0] as string | number))))
    const newest = this.blockOf(p[1]) ?? this.latest
    const percentiles = (p[2] as number[] | undefined) ?? []
    const from = Math.max(0, Number(newest.number) - count + 1)
    const blocks = this.w.blocks.slice(from, Number(newest.number) + 1)
    return {
      oldestBlock: hexN(from),
      baseFeePerGas: [...blocks.map((b) => hexN(b.baseFeePerGas)), hexN(nextBaseFee(newest))],
      gasUsedRatio: blocks.map((b) => Number(b.gasUsed) / Number(b.gasLimit)),
      reward: blocks.map(() => percentiles.map(() => hexN(BASE_PRIORITY_FEE))),
    }
  }

  private takePending(): TxRecord[] {
    const t = this.w.pending
    this.w.pending = []
    return t
  }

  // -------------------------------------------------------------- execution

  /**
   * Runs one message (a call or a creation) against the world. Returns the result data, the gas (intrinsic +
   * execution, and the refund), the logs, a created address; throws `Revert` with the meter rolled back.
   */
  private execute(msg: { from: Address; to: Address | null; data: Hex; value: bigint; nonce?: number }, blockNumber: bigint, timestamp: bigint, opts: { commit: boolean }) {
    const meter = new TxMeter(this.w.storage)
    const input = hexToBytes(msg.data)
    let intrinsic = G_TX + calldataGas(input)
    meter.warmAccounts.add(lower(msg.from))
    const ethTouched = new Map<string, bigint>()
    const moveEth = (from: string, to: string, v: bigint) => {
      if (v === 0n) return
      const a = this.account(from), b = this.account(to)
      if (!ethTouched.has(lower(from))) ethTouched.set(lower(from), a.balance)
      if (!ethTouched.has(lower(to))) ethTouched.set(lower(to), b.balance)
      if (a.balance < v) throw new Revert('0x', 'insufficient balance for value')
      a.balance -= v
      b.balance += v
    }
    const rollbackEth = () => { for (const [k, v] of ethTouched) this.account(k).balance = v }
    let created: Address | null = null
    let result: Hex = '0x'
    let createdRecord: ContractRecord | undefined
    try {
      if (msg.to === null) {
        intrinsic += G_CREATE + 2 * Math.ceil(input.length / 32)
        const data = lower(msg.data)
        const art = artifacts().find((a) => data.startsWith(a.bytecode))
        if (!art) throw new ModelChainUnsupportedError('an unknown contract', 'constructor', { hints: ['The model chain recognises only the contracts compiled into artifacts/*.json (initcode = artifact bytecode ‖ constructor arguments).'] })
        const nonce = msg.nonce ?? this.account(msg.from).nonce
        created = getContractAddress({ from: msg.from, nonce: BigInt(nonce) })
        const ctor = art.abi.find((x) => x.type === 'constructor') as { inputs: readonly { type: string; name: string }[] } | undefined
        const argsHex = `0x${data.slice(art.bytecode.length)}` as Hex
        const args = ctor && ctor.inputs.length ? decodeAbiParameters(ctor.inputs as never, argsHex) : []
        const model = art.name === 'SoukToken' ? soukTokenModel(args) : art.name === 'TicketBroker' ? ticketBrokerModel(args, created, this.chainId) : undefined
        if (art.name === 'TicketBroker' && lower(args[0] as string) === ZERO_ADDRESS) throw new Revert(encodeErrorResult({ abi: art.abi, errorName: 'TicketBrokerZeroAddress' }), 'TicketBrokerZeroAddress')
        createdRecord = { name: art.name, abi: art.abi, code: art.deployedBytecode, model }
        meter.gas += this.gasTable.deploy[art.name] ?? 0
        moveEth(msg.from, created, msg.value)
      } else {
        meter.warmAccounts.add(lower(msg.to))
        const rec = this.w.contracts.get(lower(msg.to))
        // No Souk contract has a payable function: value sent to one reverts (plain ETH moves between accounts).
        if (rec && msg.value !== 0n) throw new Revert('0x', 'value sent to a non-payable contract')
        moveEth(msg.from, msg.to, msg.value)
        if (rec) result = this.callContract(meter, rec, msg.to, msg.from, msg.data, blockNumber, timestamp)
      }
    } catch (e) {
      // Any failure leaves the state as it was: a revert (returned), or what the model cannot run (thrown).
      meter.rollback()
      rollbackEth()
      if (e instanceof Revert) {
        const k = meter.topCall
        const extra = k ? (this.gasTable.revert[`${k}:${e.errorName}`] ?? this.gasTable.revert[k] ?? 0) : 0
        return { ok: false as const, revert: e, gas: intrinsic + meter.gas + extra, refund: 0, logs: [], created: null }
      }
      throw e
    }
    if (!opts.commit) { meter.rollback(); rollbackEth() } else if (created && createdRecord) this.w.contracts.set(lower(created), createdRecord)
    return { ok: true as const, result, gas: intrinsic + meter.gas, refund: meter.refund, logs: [...meter.logs], created }
  }

  private callContract(meter: TxMeter, rec: ContractRecord, to: Address, from: Address, data: Hex, blockNumber: bigint, timestamp: bigint): Hex {
    let decoded: { functionName: string; args?: readonly unknown[] }
    try {
      decoded = decodeFunctionData({ abi: rec.abi, data }) as never
    } catch {
      // No such function (or calldata that does not decode): the contract reverts with no data.
      throw new Revert('0x', 'no matching function')
    }
    meter.topCall = `${rec.name}.${decoded.functionName}`
    const out = this.invoke(meter, rec, getAddress(to), getAddress(from), decoded.functionName, decoded.args ?? [], blockNumber, timestamp, true)
    return encodeFunctionResult({ abi: rec.abi, functionName: decoded.functionName, result: out } as never)
  }

  private invoke(meter: TxMeter, rec: ContractRecord, self: Address, sender: Address, fn: string, args: readonly unknown[], blockNumber: bigint, timestamp: bigint, top: boolean): unknown {
    const impl = rec.model?.fns[fn]
    if (!impl) throw new ModelChainUnsupportedError(rec.name, fn)
    const abi = rec.abi
    const env: CallEnv = {
      meter, sender, self, blockNumber, timestamp, chainId: this.chainId, gas: this.gasTable, top,
      call: (to, f, a) => {
        meter.account(to)
        const target = this.w.contracts.get(lower(to))
        if (!target) throw new Revert('0x', 'call to a non-contract')
        return this.invoke(meter, target, getAddress(to), self, f, a, blockNumber, timestamp, false)
      },
      emit: (eventName, a) => {
        const ev = abi.find((x) => x.type === 'event' && x.name === eventName) as AbiEvent
        const topics = encodeEventTopics({ abi: [ev], eventName, args: Object.fromEntries(ev.inputs.filter((i) => i.indexed).map((i) => [i.name!, a[i.name!]])) } as never) as Hex[]
        const rest = ev.inputs.filter((i) => !i.indexed)
        const data = rest.length ? encodeAbiParameters(rest, rest.map((i) => a[i.name!]) as never) : '0x'
        meter.gas += 375 + 375 * topics.length + 8 * ((data.length - 2) / 2)
        meter.logs.push({ address: self, topics, data })
      },
      revert: (errorName, a = []) => {
        const errAbi = errorName === 'Panic' ? [{ type: 'error', name: 'Panic', inputs: [{ type: 'uint256', name: 'code' }] }] as const : abi
        throw new Revert(encodeErrorResult({ abi: errAbi as Abi, errorName, args: a } as never), errorName)
      },
      charge: (g) => { meter.gas += g },
    }
    return impl(env, args)
  }

  private callBlock(): { number: bigint; timestamp: bigint } {
    // eth_call and eth_estimateGas run in the context of the next block, as hardhat's do.
    return { number: this.latest.number + 1n, timestamp: this.nextTimestampValue() }
  }

  private nextTimestampValue(): bigint {
    if (this.w.nextTimestamp !== undefined) return this.w.nextTimestamp
    const fromClock = BigInt(Math.floor(this.now() / 1000)) + this.w.timeOffset
    const min = this.latest.timestamp + 1n
    return fromClock > min ? fromClock : min
  }

  private ethCall(tx: Record<string, Hex>, tag: unknown): Hex {
    const block = this.blockOf(tag)
    if (!block) throw rpcError(`Unknown block ${String(tag)}`, -32000)
    const data = (tx.data ?? tx.input ?? '0x') as Hex
    const from = (tx.from ?? ZERO_ADDRESS) as Address
    const to = (tx.to ?? null) as Address | null
    if (block !== this.latest) {
      // Past state is not kept: a call at the parent of a block that holds a failed transaction with the same
      // sender, target and input replays that transaction's revert (how `write` explains a mined revert).
      const child = this.w.blocks[Number(block.number) + 1]
      const failed = child?.txs.map((h) => this.w.txs.get(h)!).find((t) => t.revertData !== undefined && lower(t.from) === lower(from) && lower(t.to ?? '') === lower(to ?? '') && lower(t.input) === lower(data))
      if (failed) throw rpcError(`execution reverted`, 3, failed.revertData)
      throw new ModelChainUnsupportedError('the model chain', `eth_call at block ${block.number} (only the latest state is kept)`, { hints: ['Call at "latest".'] })
    }
    const b = this.callBlock()
    const r = this.execute({ from, to, data, value: BigInt(tx.value ?? '0x0') }, b.number, b.timestamp, { commit: false })
    if (!r.ok) throw rpcError(`execution reverted: ${r.revert.errorName}`, 3, r.revert.data)
    return r.result
  }

  private estimateGas(tx: Record<string, Hex>): Hex {
    const data = (tx.data ?? tx.input ?? '0x') as Hex
    const b = this.callBlock()
    const r = this.execute({ from: (tx.from ?? ZERO_ADDRESS) as Address, to: (tx.to ?? null) as Address | null, data, value: BigInt(tx.value ?? '0x0') }, b.number, b.timestamp, { commit: false })
    if (!r.ok) throw rpcError(`execution reverted: ${r.revert.errorName}`, 3, r.revert.data)
    // The gas limit a transaction needs is its gas before the refund (refunds are paid back after execution).
    return hexN(r.gas)
  }

  private async sendRaw(raw: Hex): Promise<Hex> {
    let tx: ReturnType<typeof parseTransaction>
    let from: Address
    try {
      tx = parseTransaction(raw)
      from = recoverSender(tx)
    } catch (e) {
      throw rpcError(`Invalid raw transaction: ${(e as Error).message.split('\n')[0]}`, -32602)
    }
    if (tx.chainId !== undefined && tx.chainId !== this.chainId) throw rpcError(`Transaction is for chain ${tx.chainId}, this chain is ${this.chainId}`, -32000)
    const hash = viemKeccak(raw)
    if (this.w.txs.has(hash)) throw rpcError(`Known transaction: ${hash}`, -32000)
    const acc = this.account(from)
    const expected = acc.nonce + this.w.pending.filter((t) => lower(t.from) === lower(from)).length
    const nonce = tx.nonce ?? 0
    if (nonce < expected) throw rpcError(`Nonce too low. Expected nonce to be ${expected} but got ${nonce}.`, -32000)
    if (nonce > expected && this.automine) throw rpcError(`Nonce too high. Expected nonce to be ${expected} but got ${nonce}.`, -32000)
    const gas = tx.gas ?? 0n
    const maxFee = tx.maxFeePerGas ?? tx.gasPrice ?? 0n
    if (acc.balance < gas * maxFee + (tx.value ?? 0n)) throw rpcError(`Sender doesn't have enough funds to send tx. The max upfront cost is: ${gas * maxFee + (tx.value ?? 0n)} and the sender's balance is: ${acc.balance}.`, -32000)
    const next = nextBaseFee(this.latest)
    if (maxFee < next && this.automine) throw rpcError(`Transaction maxFeePerGas (${maxFee}) is too low for the next block, which has a baseFeePerGas of ${next}`, -32000)
    const sig = tx as unknown as { r: Hex; s: Hex; v?: bigint; yParity?: number }
    const rec: TxRecord = {
      hash, from: getAddress(from), to: tx.to ? getAddress(tx.to) : null, nonce, value: tx.value ?? 0n, gas, input: (tx.data ?? '0x') as Hex,
      type: tx.type as TxRecord['type'], maxFeePerGas: tx.maxFeePerGas, maxPriorityFeePerGas: tx.maxPriorityFeePerGas, gasPrice: tx.gasPrice, chainId: tx.chainId,
      r: sig.r, s: sig.s, v: sig.v ?? BigInt(sig.yParity ?? 0), yParity: sig.yParity,
    }
    if (this.automine) this.mine([rec], { strict: true })
    else this.w.pending.push(rec)
    return hash
  }

  /** Mines one block with `txs` (in order; a transaction that cannot run now is dropped, as a node would). */
  private mine(txs: TxRecord[], opts: { strict?: boolean } = {}): BlockRecord {
    const parent = this.latest
    const number = parent.number + 1n
    const timestamp = this.nextTimestampValue()
    const setTimestamp = this.w.nextTimestamp
    this.w.nextTimestamp = undefined
    const baseFee = nextBaseFee(parent)
    let used = 0n
    const included: TxRecord[] = []
    const logs: Omit<LogRecord, 'blockHash'>[] = []
    const logRange: [number, number][] = []
    for (const t of txs.sort((a, b) => (lower(a.from) === lower(b.from) ? a.nonce - b.nonce : 0))) {
      const acc = this.account(t.from)
      if (t.nonce !== acc.nonce) continue
      const maxFee = t.maxFeePerGas ?? t.gasPrice ?? 0n
      if (maxFee < baseFee) continue
      const price = t.maxFeePerGas !== undefined ? (baseFee + (t.maxPriorityFeePerGas ?? 0n) < maxFee ? baseFee + (t.maxPriorityFeePerGas ?? 0n) : maxFee) : t.gasPrice!
      let r: ReturnType<ModelProvider['execute']>
      try {
        r = this.execute({ from: t.from, to: t.to, data: t.input, value: t.value, nonce: t.nonce }, number, timestamp, { commit: true })
      } catch (e) {
        // What the model cannot run: sent with automine (one transaction, nothing of this block done yet), a typed
        // error and no block; queued while automine was off, mined as failed with no revert data.
        if (opts.strict || !(e instanceof ModelChainUnsupportedError)) {
          this.w.nextTimestamp = setTimestamp
          throw e
        }
        r = { ok: false, revert: new Revert('0x', e.message), gas: G_TX + calldataGas(hexToBytes(t.input)), refund: 0, logs: [], created: null }
      }
      acc.nonce++
      let gasUsed = BigInt(r.gas)
      if (r.ok) {
        const cap = gasUsed / 5n
        const refund = BigInt(Math.max(0, r.refund))
        gasUsed -= refund < cap ? refund : cap
      }
      if (gasUsed > t.gas) gasUsed = t.gas
      acc.balance -= gasUsed * price
      used += gasUsed
      const index = included.length
      const first = logs.length
      if (r.ok) r.logs.forEach((l, i) => logs.push({ ...l, address: getAddress(l.address), blockNumber: number, transactionHash: t.hash, transactionIndex: index, logIndex: first + i }))
      t.blockNumber = number
      t.index = index
      t.receipt = { gasUsed, cumulativeGasUsed: used, effectiveGasPrice: price, status: r.ok ? 'success' : 'reverted', contractAddress: r.ok ? r.created : null, logs: [] }
      if (!r.ok) t.revertData = r.revert.data
      logRange.push([first, logs.length])
      included.push(t)
    }
    const header = { number, parentHash: parent.hash, timestamp, baseFeePerGas: baseFee, gasLimit: this.gasLimit, gasUsed: used, txs: included.map((t) => t.hash) }
    const hash = blockHash(header)
    const block: BlockRecord = { ...header, hash, logs: logs.map((l) => ({ ...l, blockHash: hash })) }
    included.forEach((t, i) => {
      t.blockHash = hash
      t.receipt!.logs = block.logs.slice(logRange[i]![0], logRange[i]![1])
      this.w.txs.set(t.hash, t)
    })
    this.w.blocks.push(block)
    this.w.blockByHash.set(hash, block)
    return block
  }

  // -------------------------------------------------------------- formatting

  private formatLog(l: LogRecord) {
    return {
      address: lower(l.address), topics: l.topics, data: l.data, blockNumber: hexN(l.blockNumber), blockHash: l.blockHash, transactionHash: l.transactionHash,
      transactionIndex: hexN(l.transactionIndex), logIndex: hexN(l.logIndex), removed: false,
    }
  }

  private formatTx(t: TxRecord) {
    const mined = t.blockNumber !== undefined
    return {
      hash: t.hash, nonce: hexN(t.nonce), blockHash: mined ? t.blockHash : null, blockNumber: mined ? hexN(t.blockNumber!) : null, transactionIndex: mined ? hexN(t.index!) : null,
      from: lower(t.from), to: t.to ? lower(t.to) : null, value: hexN(t.value), gas: hexN(t.gas), input: t.input,
      type: t.type === 'eip1559' ? '0x2' : t.type === 'eip2930' ? '0x1' : '0x0',
      ...(t.maxFeePerGas !== undefined ? { maxFeePerGas: hexN(t.maxFeePerGas), maxPriorityFeePerGas: hexN(t.maxPriorityFeePerGas ?? 0n) } : {}),
      gasPrice: hexN(t.receipt?.effectiveGasPrice ?? t.gasPrice ?? t.maxFeePerGas ?? 0n),
      chainId: t.chainId !== undefined ? hexN(t.chainId) : undefined, accessList: t.type === 'legacy' ? undefined : [],
      v: hexN(t.v), r: t.r, s: t.s, ...(t.yParity !== undefined ? { yParity: hexN(t.yParity) } : {}),
    }
  }

  private formatReceipt(t: TxRecord) {
    const r = t.receipt!
    return {
      transactionHash: t.hash, transactionIndex: hexN(t.index!), blockHash: t.blockHash, blockNumber: hexN(t.blockNumber!), from: lower(t.from), to: t.to ? lower(t.to) : null,
      cumulativeGasUsed: hexN(r.cumulativeGasUsed), gasUsed: hexN(r.gasUsed), effectiveGasPrice: hexN(r.effectiveGasPrice), contractAddress: r.contractAddress ? lower(r.contractAddress) : null,
      logs: r.logs.map((l) => this.formatLog(l)), logsBloom: EMPTY_BLOOM, status: r.status === 'success' ? '0x1' : '0x0',
      type: t.type === 'eip1559' ? '0x2' : t.type === 'eip2930' ? '0x1' : '0x0',
    }
  }

  private formatBlock(b: BlockRecord, full: boolean) {
    return {
      number: hexN(b.number), hash: b.hash, parentHash: b.parentHash, timestamp: hexN(b.timestamp), baseFeePerGas: hexN(b.baseFeePerGas), gasLimit: hexN(b.gasLimit), gasUsed: hexN(b.gasUsed),
      transactions: full ? b.txs.map((h) => this.formatTx(this.w.txs.get(h)!)) : b.txs,
      miner: ZERO_ADDRESS, difficulty: '0x0', totalDifficulty: '0x0', extraData: '0x', logsBloom: EMPTY_BLOOM, nonce: '0x0000000000000000', mixHash: ZERO32,
      sha3Uncles: ZERO32, uncles: [], size: hexN(1000 + b.txs.length * 200), stateRoot: ZERO32, transactionsRoot: ZERO32, receiptsRoot: ZERO32,
      withdrawals: [], withdrawalsRoot: ZERO32, blobGasUsed: '0x0', excessBlobGas: '0x0', parentBeaconBlockRoot: ZERO32,
    }
  }

  private getLogs(f: Record<string, unknown>) {
    let from: bigint, to: bigint
    if (f.blockHash) {
      const b = this.w.blockByHash.get(lower(f.blockHash as string))
      if (!b) throw rpcError(`Unknown block ${String(f.blockHash)}`, -32000)
      from = to = b.number
    } else {
      const tagNumber = (t: unknown) => (t === undefined || typeof t !== 'string' || !t.startsWith('0x') ? (this.blockOf(t ?? 'latest') ?? this.latest).number : BigInt(t))
      from = tagNumber(f.fromBlock)
      to = tagNumber(f.toBlock)
      if (to > this.latest.number) to = this.latest.number
    }
    const addrs = f.address === undefined || f.address === null ? undefined : (Array.isArray(f.address) ? f.address : [f.address]).map((a) => lower(a as string))
    const topics = (f.topics as (Hex | Hex[] | null)[] | undefined) ?? []
    const out = []
    for (let n = from; n <= to; n++) {
      for (const l of this.w.blocks[Number(n)]!.logs) {
        if (addrs && !addrs.includes(lower(l.address))) continue
        if (!topics.every((t, i) => t === null || t === undefined || (Array.isArray(t) ? t.map(lower).includes(lower(l.topics[i] ?? '')) : lower(t) === lower(l.topics[i] ?? '')))) continue
        out.push(this.formatLog(l))
      }
    }
    return out
  }

  // -------------------------------------------------------------- introspection (tests, the simulator)

  /** Which contracts are deployed where, and whether the model runs their calls. */
  contracts(): { address: Address; name: string; modelled: boolean }[] {
    return [...this.w.contracts].map(([a, c]) => ({ address: getAddress(a), name: c.name, modelled: c.model !== undefined }))
  }
}

/** A `Chain` over the model provider: dev keys, dev controls, viem clients, exactly as `createChain({ kind: 'embedded' })`. */
export async function createModelChain(opts: ModelChainOptions = {}): Promise<Chain & { model: ModelProvider }> {
  const provider = new ModelProvider(opts)
  const chain = await chainFromProvider(provider, { kind: 'embedded', devKeys: provider.keys, dev: true })
  return Object.assign(chain, { model: provider })
}

