/**
 * Helpers for the contract tests: EIP-712 ticket and voucher signing with viem local accounts, signature
 * splitting and re-encoding (high-s, EIP-2098 compact), the off-chain win check, and a fast transaction path
 * to the embedded EVM that survives `evm_revert` (no client-side nonce cache) and decodes custom errors into
 * `ContractRevertError`.
 *
 * @example
 * ```ts
 * import { setupSouk, signTicket, ticketWins } from './helpers.js'
 * const env = await setupSouk()
 * const st = await signTicket(env.chain.chainId, env.d.ticketBroker, payerKey, ticket, rand)
 * ticketWins(st) // true when keccak256(r ‖ s ‖ v ‖ rand) < winProb
 * ```
 */
import {
  concat,
  decodeErrorResult,
  encodeDeployData,
  getAddress,
  encodeAbiParameters,
  encodeFunctionData,
  encodePacked,
  hashTypedData,
  hexToBigInt,
  keccak256,
  numberToHex,
  parseSignature,
  toHex,
  type Abi,
  type Address,
  type Hex,
  type Log,
  type TransactionReceipt,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import * as C from '../../artifacts/contracts.js'
import { createChain, ContractRevertError, ChainError, findRevertData, type Chain } from '../../src/chain/index.js'

/** secp256k1 group order. */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
export const MAX_UINT256 = 2n ** 256n - 1n

export interface Ticket {
  recipient: Address
  sender: Address
  faceValue: bigint
  winProb: bigint
  senderNonce: bigint
  recipientRandHash: Hex
  expirationBlock: bigint
}

/** A signed ticket as `SignedTicket` in the ABI. */
export interface SignedTicket {
  ticket: Ticket
  r: Hex
  s: Hex
  v: number
  recipientRand: bigint
}

export const TICKET_TYPES = {
  Ticket: [
    { name: 'recipient', type: 'address' },
    { name: 'sender', type: 'address' },
    { name: 'faceValue', type: 'uint256' },
    { name: 'winProb', type: 'uint256' },
    { name: 'senderNonce', type: 'uint256' },
    { name: 'recipientRandHash', type: 'bytes32' },
    { name: 'expirationBlock', type: 'uint256' },
  ],
} as const

export const VOUCHER_TYPES = {
  Voucher: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'cumulativeAmount', type: 'uint256' },
  ],
} as const

export function brokerDomain(chainId: number, verifyingContract: Address) {
  return { name: 'Souk TicketBroker', version: '1', chainId, verifyingContract } as const
}

export function channelDomain(chainId: number, verifyingContract: Address) {
  return { name: 'Souk PaymentChannel', version: '1', chainId, verifyingContract } as const
}

/** keccak256(abi.encode(rand)) — the commitment a recipient hands out. */
export function randHash(rand: bigint): Hex {
  return keccak256(encodeAbiParameters([{ type: 'uint256' }], [rand]))
}

/** The EIP-712 digest of a ticket, computed off-chain. */
export function ticketDigest(chainId: number, broker: Address, t: Ticket): Hex {
  return hashTypedData({ domain: brokerDomain(chainId, broker), types: TICKET_TYPES, primaryType: 'Ticket', message: t })
}

/** The EIP-712 digest of a voucher, computed off-chain. */
export function voucherDigest(chainId: number, channel: Address, channelId: Hex, cumulativeAmount: bigint): Hex {
  return hashTypedData({ domain: channelDomain(chainId, channel), types: VOUCHER_TYPES, primaryType: 'Voucher', message: { channelId, cumulativeAmount } })
}

/** Splits a 65-byte signature into r, s and v ∈ {27, 28}. */
export function splitSignature(sig: Hex): { r: Hex; s: Hex; v: number } {
  const p = parseSignature(sig)
  const v = p.v !== undefined ? Number(p.v) : 27 + (p.yParity ?? 0)
  return { r: p.r, s: p.s, v: v < 27 ? v + 27 : v }
}

/** The other valid encoding of the same ECDSA signature: s' = n - s, v flipped (high-s when s was low). */
export function highS(sig: { r: Hex; s: Hex; v: number }): { r: Hex; s: Hex; v: number } {
  return { r: sig.r, s: numberToHex(SECP256K1_N - hexToBigInt(sig.s), { size: 32 }), v: sig.v === 27 ? 28 : 27 }
}

/** 65-byte r ‖ s ‖ v. */
export function joinSignature(sig: { r: Hex; s: Hex; v: number }): Hex {
  return concat([sig.r, sig.s, numberToHex(sig.v, { size: 1 })])
}

/** EIP-2098 64-byte compact form r ‖ (yParity << 255 | s). */
export function compactSignature(sig: { r: Hex; s: Hex; v: number }): Hex {
  const vs = hexToBigInt(sig.s) | (BigInt(sig.v - 27) << 255n)
  return concat([sig.r, numberToHex(vs, { size: 32 })])
}

/** The lottery draw keccak256(abi.encodePacked(r, s, v, recipientRand)). */
export function ticketDraw(r: Hex, s: Hex, v: number, recipientRand: bigint): bigint {
  return hexToBigInt(keccak256(encodePacked(['bytes32', 'bytes32', 'uint8', 'uint256'], [r, s, v, recipientRand])))
}

/** Whether a signed ticket wins (the same rule as TicketBroker.isWinning). */
export function ticketWins(st: SignedTicket): boolean {
  return ticketDraw(st.r, st.s, st.v, st.recipientRand) < st.ticket.winProb
}

/** Signs a ticket with viem's signTypedData on a local account and attaches the rand. */
export async function signTicket(chainId: number, broker: Address, key: Hex, ticket: Ticket, recipientRand: bigint): Promise<SignedTicket> {
  const acct = privateKeyToAccount(key)
  const sig = await acct.signTypedData({ domain: brokerDomain(chainId, broker), types: TICKET_TYPES, primaryType: 'Ticket', message: ticket })
  return { ticket, ...splitSignature(sig), recipientRand }
}

/** Signs a cumulative voucher; returns the 65-byte signature. */
export async function signVoucher(chainId: number, channel: Address, key: Hex, channelId: Hex, cumulativeAmount: bigint): Promise<Hex> {
  const acct = privateKeyToAccount(key)
  return acct.signTypedData({ domain: channelDomain(chainId, channel), types: VOUCHER_TYPES, primaryType: 'Voucher', message: { channelId, cumulativeAmount } })
}

/**
 * Signs tickets with rands drawn from `nextRand` until one has the wanted outcome (win or lose) — for winProb
 * strictly between 0 and 2^256 the search ends fast; the signature is deterministic (RFC 6979), the rand moves
 * the draw.
 */
export async function signTicketWithOutcome(
  chainId: number, broker: Address, key: Hex, base: Omit<Ticket, 'recipientRandHash'>, wantWin: boolean, nextRand: () => bigint, maxTries = 256,
): Promise<SignedTicket> {
  for (let i = 0; i < maxTries; i++) {
    const rand = nextRand()
    const st = await signTicket(chainId, broker, key, { ...base, recipientRandHash: randHash(rand) }, rand)
    if (ticketWins(st) === wantWin) return st
  }
  throw new Error(`no ${wantWin ? 'winning' : 'losing'} ticket found in ${maxTries} tries (winProb ${base.winProb})`)
}

// ------------------------------------------------------------------ chain access

/** Gas limit for every test transaction: no estimation round trip, and reverts are mined like on a real chain. */
export const TX_GAS = 3_000_000n

/** The raw contracts the contract tests drive (deployed in `deploySouk`'s order, so at the same addresses). */
export interface ContractsDeployment {
  chainId: number
  token: Address
  ticketBroker: Address
  paymentChannel: Address
  deployer: Address
  blockNumber: string
  params: { unlockPeriodBlocks: number; settleDelayBlocks: number; faucetCap: string }
}

export interface SoukEnv {
  chain: Chain
  d: ContractsDeployment
  keys: readonly Hex[]
  addr: (key: Hex) => Address
}

/** A fresh embedded chain with Souk deployed (unlock period and settle delay in blocks). */
export async function setupSouk(opts: { accounts?: number; unlockPeriodBlocks?: number; settleDelayBlocks?: number; chainId?: number } = {}): Promise<SoukEnv> {
  const chain = await createChain({ kind: 'embedded', accounts: opts.accounts ?? 10, chainId: opts.chainId })
  const cache = new Map<Hex, Address>()
  const addr = (key: Hex) => {
    let a = cache.get(key)
    if (!a) cache.set(key, (a = privateKeyToAccount(key).address))
    return a
  }
  // Deploys like deploySouk (same order, so the same addresses), but through the node's own signer: viem's
  // nonce manager is global per (address, chain id) and goes wrong for a second embedded chain in one process.
  const unlock = opts.unlockPeriodBlocks ?? 20
  const settle = opts.settleDelayBlocks ?? 10
  const partial = { chain, keys: chain.devKeys, addr, d: undefined as unknown as ContractsDeployment }
  const deployer = chain.devKeys[0]!
  const token = await deployRaw(partial, deployer, C.SoukTokenAbi, C.SoukTokenBytecode, ['Souk Test Coin', 'SOUK', 10n ** 30n])
  const ticketBroker = await deployRaw(partial, deployer, C.TicketBrokerAbi, C.TicketBrokerBytecode, [token, BigInt(unlock)])
  const paymentChannel = await deployRaw(partial, deployer, C.PaymentChannelAbi, C.PaymentChannelBytecode, [token, BigInt(settle)])
  const d: ContractsDeployment = {
    chainId: chain.chainId, token, ticketBroker, paymentChannel, deployer: addr(deployer), blockNumber: String(await chain.blockNumber()),
    params: { unlockPeriodBlocks: unlock, settleDelayBlocks: settle, faucetCap: String(10n ** 30n) },
  }
  return { ...partial, d }
}

/** Deploys a contract from a dev key through the node's signer; returns its address. */
export async function deployRaw(env: SoukEnv, key: Hex, abi: Abi | readonly unknown[], bytecode: Hex, args: readonly unknown[]): Promise<Address> {
  const data = encodeDeployData({ abi: abi as Abi, bytecode, args } as never)
  const hash = (await env.chain.provider.request({ method: 'eth_sendTransaction', params: [{ from: env.addr(key), data, gas: toHex(10_000_000n) }] })) as Hex
  const r = await env.chain.public.getTransactionReceipt({ hash })
  if (!r.contractAddress) throw new ChainError('deployment produced no contract')
  return getAddress(r.contractAddress)
}

const ALL_ABIS = [...C.TicketBrokerAbi, ...C.PaymentChannelAbi, ...C.SoukTokenAbi] as unknown as Abi

const revertData = findRevertData

/** Decodes revert data into a ContractRevertError (custom errors of the Souk contracts, Error(string), Panic). */
export function decodeRevert(data: Hex | undefined, what: string): ChainError {
  if (data && data.length >= 10) {
    try {
      const d = decodeErrorResult({ abi: ALL_ABIS, data })
      return new ContractRevertError(d.errorName, d.args ?? [])
    } catch { /* unknown selector */ }
  }
  return new ChainError(`${what} reverted without decodable data (${data ?? 'none'})`)
}

export interface SendParams {
  address: Address
  abi: Abi | readonly unknown[]
  functionName: string
  args?: readonly unknown[]
}

/**
 * Sends a transaction from a dev key through the provider's own signer (eth_sendTransaction, explicit gas:
 * hardhat fills the nonce from chain state, so `evm_revert` cannot desynchronise it). Returns the receipt;
 * throws ContractRevertError with the custom error's name on revert (the reverted tx is still mined).
 */
export async function send(env: SoukEnv, key: Hex, p: SendParams): Promise<TransactionReceipt> {
  const data = encodeFunctionData({ abi: p.abi as Abi, functionName: p.functionName, args: p.args ?? [] } as never)
  let hash: Hex
  try {
    hash = (await env.chain.provider.request({
      method: 'eth_sendTransaction',
      params: [{ from: env.addr(key), to: p.address, data, gas: toHex(TX_GAS) }],
    })) as Hex
  } catch (e) {
    throw decodeRevert(revertData(e), p.functionName)
  }
  const r = await env.chain.public.getTransactionReceipt({ hash })
  if (r.status !== 'success') throw new ChainError(`${p.functionName} reverted (no error thrown by the node)`)
  return r
}

/** Calls a view function. */
export async function read<T>(env: SoukEnv, address: Address, abi: Abi | readonly unknown[], functionName: string, args: readonly unknown[] = []): Promise<T> {
  return (await env.chain.public.readContract({ address, abi: abi as Abi, functionName, args } as never)) as T
}

/** Runs `f`, which must revert with custom error `name`; returns the error's args. */
export async function expectRevert(f: () => Promise<unknown>, name: string): Promise<readonly unknown[]> {
  try {
    await f()
  } catch (e) {
    if (e instanceof ContractRevertError) {
      if (e.errorName !== name) throw new Error(`expected revert ${name}, got ${e.errorName}(${e.args.map(String).join(', ')})`)
      return e.args
    }
    throw e
  }
  throw new Error(`expected revert ${name}, but the call succeeded`)
}

/** Token Transfer events in a receipt. */
export function transferLogs(logs: readonly Log[], token: Address): { from: Address; to: Address; value: bigint }[] {
  const TOPIC = keccak256(toHex('Transfer(address,address,uint256)'))
  return logs
    .filter((l) => l.address.toLowerCase() === token.toLowerCase() && l.topics[0] === TOPIC)
    .map((l) => ({
      from: `0x${l.topics[1]!.slice(26)}` as Address,
      to: `0x${l.topics[2]!.slice(26)}` as Address,
      value: hexToBigInt(l.data),
    }))
}

/** Lower-case address equality. */
export function sameAddr(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase()
}

/** The ABI tuple form of a signed ticket. */
/** `TicketBroker.TicketRun` (the cheap batch format of `redeemRuns`). */
export interface TicketRunArg { sender: Address; faceValue: bigint; winProb: bigint; expirationBlock: bigint; lane: bigint; tickets: Hex }

/**
 * Tickets as runs for `redeemRuns`, byte for byte what is given — no checks, so adversarial encodings go through:
 * tickets sharing (sender, face value, win probability, expiry, lane) form a run in the order given (runs in the
 * order their first ticket appears); each record is seq (16 bytes) ‖ r ‖ s | (v - 27) << 255 ‖ rand. The recipient
 * and rand hash are not sent: the broker takes the caller and keccak256(rand).
 */
export function runsArg(sts: readonly SignedTicket[]): TicketRunArg[] {
  const groups = new Map<string, { head: Omit<TicketRunArg, 'tickets'>; recs: Hex[] }>()
  for (const st of sts) {
    const t = st.ticket
    const lane = t.senderNonce >> 128n
    const key = `${t.sender.toLowerCase()}|${t.faceValue}|${t.winProb}|${t.expirationBlock}|${lane}`
    let g = groups.get(key)
    if (!g) groups.set(key, (g = { head: { sender: t.sender, faceValue: t.faceValue, winProb: t.winProb, expirationBlock: t.expirationBlock, lane }, recs: [] }))
    const vs = hexToBigInt(st.s) | (BigInt((st.v - 27) & 1) << 255n)
    g.recs.push(concat([numberToHex(t.senderNonce & ((1n << 128n) - 1n), { size: 16 }), st.r, numberToHex(vs & MAX_UINT256, { size: 32 }), numberToHex(st.recipientRand, { size: 32 })]))
  }
  return [...groups.values()].map(({ head, recs }) => ({ ...head, tickets: concat(recs) }))
}

export function ticketArg(st: SignedTicket) {
  return { ticket: st.ticket, r: st.r, s: st.s, v: st.v, recipientRand: st.recipientRand }
}

/** The outcome of one transaction of {@link sendTogether}: its receipt, or the decoded revert. */
export type TogetherResult = { ok: true; receipt: TransactionReceipt } | { ok: false; error: ChainError; receipt: TransactionReceipt }

/**
 * Mines `txs` together in ONE block, in the order given — the way a front-runner gets its transaction in ahead of
 * its victim's (automine off, both sent, one `evm_mine`). A reverted transaction is mined like on a real chain; its
 * revert data comes from `debug_traceTransaction` and is decoded like {@link send}'s.
 */
export async function sendTogether(env: SoukEnv, txs: readonly { key: Hex; p: SendParams }[]): Promise<TogetherResult[]> {
  const prov = env.chain.provider
  await prov.request({ method: 'evm_setAutomine', params: [false] })
  const hashes: Hex[] = []
  try {
    for (const { key, p } of txs) {
      const data = encodeFunctionData({ abi: p.abi as Abi, functionName: p.functionName, args: p.args ?? [] } as never)
      hashes.push((await prov.request({ method: 'eth_sendTransaction', params: [{ from: env.addr(key), to: p.address, data, gas: toHex(TX_GAS) }] })) as Hex)
    }
    await prov.request({ method: 'evm_mine', params: [] })
  } finally {
    await prov.request({ method: 'evm_setAutomine', params: [true] })
  }
  const out: TogetherResult[] = []
  for (let i = 0; i < hashes.length; i++) {
    const receipt = await env.chain.public.getTransactionReceipt({ hash: hashes[i]! })
    if (receipt.status === 'success') { out.push({ ok: true, receipt }); continue }
    const trace = (await prov.request({ method: 'debug_traceTransaction', params: [hashes[i], { disableStorage: true, disableMemory: true, disableStack: true }] })) as { returnValue?: string }
    const rv = trace.returnValue ? ((trace.returnValue.startsWith('0x') ? trace.returnValue : `0x${trace.returnValue}`) as Hex) : undefined
    out.push({ ok: false, error: decodeRevert(rv, txs[i]!.p.functionName), receipt })
  }
  return out
}
