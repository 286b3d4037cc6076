/**
 * Direct tests of StorageMarket (contracts/StorageMarket.sol): the life of a deal with real trees from
 * src/proofs/storage, and each bad input of issue 12 — a proof for the wrong deal or period, a replayed proof, a forged
 * path, a bad deal signature, no collateral, a front-run — refused with a named error or a skip event, with no token
 * paid for it; the recorded-seed and EIP-2935 paths; and the gas bench (bench/storage-gas.ts) runs.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { parseEventLogs, toHex, type Address, type Hex, type TransactionReceipt } from 'viem'
import * as C from '../../artifacts/contracts.js'
import { ContractRevertError } from '../../src/chain/index.js'
import { normalizePositions } from '../../src/proofs/storage/index.js'
import { proofTuple } from '../../src/services/storage/contract.js'
import { sendTogether } from './helpers.js'
import {
  FAULT, PERIOD_STATE, SKIP, honestProof, makeDataset, openArgs, setupStorage, signedStorageDeal, smRead, smSend, termsFor, type Dataset,
} from './storage-model.js'
import { measureStorageGas } from '../../bench/storage-gas.js'
import type { StorageTermsArg } from '../../src/services/storage/contract.js'

const se = await setupStorage({ accounts: 8 })
after(() => se.env.chain.close())
const { env, market, token } = se
const [, client, provider, provider2, stranger, client2] = env.keys as Hex[]
const A = (k: Hex) => env.addr(k)

const tokenBal = (who: Address) => env.chain.public.readContract({ address: token, abi: C.SoukTokenAbi, functionName: 'balanceOf', args: [who] })
const credit = (who: Address) => smRead<bigint>(env, market, 'balanceOf', [who])
const blockNo = () => env.chain.blockNumber()
const blockHash = async (n: bigint) => ((await env.chain.provider.request({ method: 'eth_getBlockByNumber', params: [toHex(n), false] })) as { hash: Hex }).hash
/** Mines so that the next transaction executes in block `target` (no-op if already past). */
async function execAt(target: bigint) {
  const n = target - 1n - (await blockNo())
  if (n > 0n) await env.chain.dev!.mine(Number(n))
}
async function reverts(p: Promise<unknown>, name: string, check?: (args: readonly unknown[]) => void) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ContractRevertError, String(e))
    assert.equal(e.errorName, name, `expected ${name}, got ${e.errorName}(${e.args.map(String).join(', ')})`)
    check?.(e.args)
    return true
  })
}
/** Token balances of everyone involved (and the market), to show a refused call moved nothing. */
const snapshotBalances = async () => Promise.all([client, provider, provider2, stranger, client2].map((k) => tokenBal(A(k))).concat([tokenBal(market)]))
const marketEvents = (r: TransactionReceipt) => parseEventLogs({ abi: C.StorageMarketAbi, logs: r.logs.filter((l) => l.address.toLowerCase() === market.toLowerCase()) })

interface OpenDeal { id: Hex; ds: Dataset; terms: StorageTermsArg; start: bigint; clientKey: Hex; providerKey: Hex }
let dealNo = 0
async function openActive(o: { terms?: Partial<StorageTermsArg>; clientKey?: Hex; providerKey?: Hex; leaves?: number; replicas?: number; activate?: boolean } = {}): Promise<OpenDeal> {
  const ds = makeDataset(`deal-${++dealNo}`, o.leaves ?? 200, o.replicas ?? 2)
  const terms = termsFor(ds, o.terms)
  const clientKey = o.clientKey ?? client, providerKey = o.providerKey ?? provider
  const sd = signedStorageDeal(se, providerKey, clientKey, terms)
  const r = await smSend(env, clientKey, market, 'openDeal', openArgs(sd))
  const id = (marketEvents(r).find((e) => e.eventName === 'DealOpened')!.args as { dealId: Hex }).dealId
  let start = 0n
  if (o.activate !== false) start = (await smSend(env, providerKey, market, 'activate', [id])).blockNumber
  return { id, ds, terms, start, clientKey, providerKey }
}
const seedBlock = (d: OpenDeal, t: number) => d.start + BigInt((t + 1) * d.terms.periodBlocks - d.terms.windowBlocks)
const periodEnd = (d: OpenDeal, t: number) => d.start + BigInt((t + 1) * d.terms.periodBlocks)
async function proofOf(d: OpenDeal, t: number) {
  const seed = await blockHash(seedBlock(d, t))
  const p = honestProof(d.ds, seed, d.id, t, d.terms.challenges)
  return { dealId: d.id, period: t, leaves: p.leaves, siblings: p.siblings, positions: p.positions }
}
const prove = (key: Hex, proofs: { dealId: Hex; period: number; leaves: Uint8Array; siblings: Uint8Array }[]) => smSend(env, key, market, 'prove', [proofs.map(proofTuple)])
const dealView = (id: Hex) => smRead<{ state: number; proven: bigint; faulted: bigint; escrowLeft: bigint; collateralLeft: bigint; next: bigint; endPeriod: bigint; start: bigint }>(env, market, 'deals', [id])
const periodState = async (id: Hex, t: number) => Number(await smRead<number>(env, market, 'periodState', [id, BigInt(t)]))

test('a deal\'s life: open escrows, activate posts collateral, an honest proof in its window pays the period; the views follow', async () => {
  const c0 = await tokenBal(A(client)), p0 = await tokenBal(A(provider))
  const d = await openActive()
  assert.equal(await tokenBal(A(client)), c0 - 400n)
  assert.equal(await tokenBal(A(provider)), p0 - 1000n)
  assert.equal(await tokenBal(market) >= 1400n, true)
  assert.equal(await smRead<Hex>(env, market, 'termsHash', [d.terms]), toHex(signedStorageDeal(se, provider, client, d.terms).deal.nonce, { size: 32 }))
  assert.equal(await periodState(d.id, 0), PERIOD_STATE.Pending)
  assert.equal(await smRead<bigint>(env, market, 'currentPeriod', [d.id]), 0n)
  await execAt(seedBlock(d, 0) + 2n) // views run at the latest block: seedBlock + 1, in the window
  assert.equal(await periodState(d.id, 0), PERIOD_STATE.Open)
  const pr = await proofOf(d, 0)
  // The contract draws the same challenges as challengePositions (sorted, deduplicated).
  const onChain = (await smRead<readonly bigint[]>(env, market, 'challengedLeaves', [d.id, 0n])).map(Number)
  assert.deepEqual(onChain, normalizePositions(pr.positions, d.ds.tree.depth))
  const r = await prove(provider, [pr])
  const evs = marketEvents(r)
  assert.deepEqual(evs.map((e) => e.eventName), ['PeriodProven'])
  assert.equal(await credit(A(provider)), 100n)
  assert.equal(await periodState(d.id, 0), PERIOD_STATE.Proven)
  const v = await dealView(d.id)
  assert.equal(v.proven, 1n)
  assert.equal(v.escrowLeft, 300n)
  const w = await smSend(env, provider, market, 'withdraw')
  assert.equal(await tokenBal(A(provider)), p0 - 1000n + 100n)
  assert.equal(marketEvents(w)[0]!.eventName, 'Withdrawn')
  await reverts(smSend(env, provider, market, 'withdraw'), 'StorageMarketNothingToWithdraw')
  console.log(`storage: prove k=5 over ${d.ds.tree.n} leaves (depth ${d.ds.tree.depth}) ${r.gasUsed} gas`)
})

test('bad deal signatures, terms not signed, no collateral and every bad term are refused by name; no token moves', async () => {
  const ds = makeDataset('bad-terms', 64, 1)
  const before = await snapshotBalances()
  const good = termsFor(ds)
  const open = (sd: ReturnType<typeof signedStorageDeal>, key = client) => smSend(env, key, market, 'openDeal', openArgs(sd))
  await reverts(open(signedStorageDeal(se, provider, client, good, { forgeServer: stranger })), 'MarketDealsBadSignature', (a) => assert.equal(a[1], 'server'))
  await reverts(open(signedStorageDeal(se, provider, client, good, { forgeBuyer: stranger })), 'MarketDealsBadSignature', (a) => assert.equal(a[1], 'buyer'))
  // Signatures swapped between the sides, and a truncated signature.
  const ok = signedStorageDeal(se, provider, client, good)
  await reverts(open({ ...ok, serverSig: ok.buyerSig, buyerSig: ok.serverSig }), 'MarketDealsBadSignature', (a) => assert.equal(a[1], 'server'))
  await reverts(open({ ...ok, serverSig: '0x1234' }), 'MarketDealsBadSignature')
  // Terms changed after signing: the nonce no longer matches them; a deal whose collateral differs from the terms'.
  await reverts(open({ ...ok, terms: { ...good, pricePerPeriod: 1n } }), 'StorageMarketTermsMismatch', (a) => assert.equal(a[0], 'nonce'))
  const collMismatch = signedStorageDeal(se, provider, client, good)
  collMismatch.deal = { ...collMismatch.deal, collateral: 5n }
  await reverts(open(collMismatch), 'StorageMarketTermsMismatch', (a) => assert.equal(a[0], 'collateral'))
  const svc = signedStorageDeal(se, provider, client, good)
  svc.deal = { ...svc.deal, service: 'cdn' }
  await reverts(open(svc), 'StorageMarketNotStorageDeal')
  const badTerms: [Partial<StorageTermsArg>, string][] = [
    [{ collateral: 0n }, 'collateral'], [{ periods: 0 }, 'periods'], [{ replicas: 0 }, 'replicas'], [{ leavesPerReplica: 0n }, 'leavesPerReplica'],
    [{ challenges: 0 }, 'challenges'], [{ challenges: 65 }, 'challenges'], [{ windowBlocks: 0 }, 'windowBlocks'], [{ windowBlocks: 21, periodBlocks: 20 }, 'windowBlocks'],
    [{ windowBlocks: 257, periodBlocks: 1000 }, 'windowBlocks'], [{ leavesPerReplica: (1n << 39n) + 1n, replicas: 2 }, 'depth'], [{ activateWithinBlocks: 0 }, 'activateWithinBlocks'],
    [{ pricePerPeriod: 1n << 128n }, 'amount'], [{ pricePerPeriod: 1n << 127n, periods: 4 }, 'amount'], [{ periodBlocks: 2 ** 31, periods: 3 }, 'duration'],
  ]
  for (const [over, field] of badTerms) {
    await reverts(open(signedStorageDeal(se, provider, client, termsFor(ds, over))), 'StorageMarketBadTerms', (a) => assert.equal(a[0], field, JSON.stringify(over, (_k, v) => (typeof v === 'bigint' ? String(v) : v))))
  }
  // A free deal (price 0) backed by collateral is allowed: nothing escrowed.
  const free = await openActive({ terms: { pricePerPeriod: 0n } })
  assert.equal((await dealView(free.id)).escrowLeft, 0n)
  const after0 = await snapshotBalances()
  assert.deepEqual(after0.slice(0, 1), before.slice(0, 1), 'the client paid nothing for the refused deals or the free one')
})

test('front-running: a stranger cannot open someone\'s signed deal (even mined first), nor activate it; a deal opens once', async () => {
  const ds = makeDataset('front', 100, 1)
  const sd = signedStorageDeal(se, provider, client, termsFor(ds))
  const before = await snapshotBalances()
  await reverts(smSend(env, stranger, market, 'openDeal', openArgs(sd)), 'StorageMarketNotClient')
  // The stranger sees the client's transaction and gets in first, in the same block.
  const res = await sendTogether(env, [
    { key: stranger, p: { address: market, abi: C.StorageMarketAbi, functionName: 'openDeal', args: openArgs(sd) } },
    { key: client, p: { address: market, abi: C.StorageMarketAbi, functionName: 'openDeal', args: openArgs(sd) } },
  ])
  assert.equal(res[0]!.ok, false)
  assert.equal(res[1]!.ok, true)
  const id = (marketEvents((res[1] as { receipt: TransactionReceipt }).receipt)[0]!.args as { dealId: Hex }).dealId
  assert.equal((await snapshotBalances())[3], before[3], 'the stranger moved no token')
  await reverts(smSend(env, client, market, 'openDeal', openArgs(sd)), 'StorageMarketDealExists')
  await reverts(smSend(env, stranger, market, 'activate', [id]), 'StorageMarketNotProvider')
  await reverts(smSend(env, stranger, market, 'cancel', [id]), 'StorageMarketNotClient')
  await reverts(smSend(env, client, market, 'cancel', [id]), 'StorageMarketActivationPending')
  // Not activated in time: the provider is too late and the client takes its escrow back.
  await env.chain.dev!.mine(10)
  await reverts(smSend(env, provider, market, 'activate', [id]), 'StorageMarketActivationExpired')
  const c = await credit(A(client))
  await smSend(env, client, market, 'cancel', [id])
  assert.equal(await credit(A(client)), c + 400n)
  await reverts(smSend(env, client, market, 'cancel', [id]), 'StorageMarketNotOpened')
})

test('proofs for the wrong deal or period, replays and strangers: skipped by name (the batch reverts only when nothing settled), never paid', async () => {
  const a = await openActive()
  const b = await openActive({ providerKey: provider2, clientKey: client2, terms: { periodBlocks: 20, windowBlocks: 8 } })
  await execAt(seedBlock(a, 0) + 1n)
  const pa = await proofOf(a, 0)
  const before = await snapshotBalances()
  const credits = async () => Promise.all([provider, provider2, stranger].map((k) => credit(A(k))))
  const c0 = await credits()
  // A stranger submits the provider's valid proof: not its deal.
  await reverts(prove(stranger, [pa]), 'StorageMarketNothingProven', (x) => assert.equal(Number(x[2]), SKIP.NotProvider))
  // The provider of deal b submits a's proof: not its deal either.
  await reverts(prove(provider2, [pa]), 'StorageMarketNothingProven', (x) => assert.equal(Number(x[2]), SKIP.NotProvider))
  // An unknown deal; a period before its window (period 1); a period past the deal; an empty batch.
  await reverts(prove(provider, [{ ...pa, dealId: `0x${'ab'.repeat(32)}` }]), 'StorageMarketNothingProven', (x) => assert.equal(Number(x[2]), SKIP.UnknownDeal))
  await reverts(prove(provider, [{ ...pa, period: 1 }]), 'StorageMarketNothingProven', (x) => assert.equal(Number(x[2]), SKIP.NotInWindow))
  await reverts(prove(provider, [{ ...pa, period: 9 }]), 'StorageMarketNothingProven', (x) => assert.equal(Number(x[2]), SKIP.NotInWindow))
  await reverts(prove(provider, []), 'StorageMarketEmptyBatch')
  assert.deepEqual(await snapshotBalances(), before)
  assert.deepEqual(await credits(), c0)
  // The honest proof counts once; its replay is refused (alone: a revert; in a batch with an honest entry: a skip event).
  await prove(provider, [pa])
  await reverts(prove(provider, [pa]), 'StorageMarketNothingProven', (x) => assert.equal(Number(x[2]), SKIP.AlreadyResolved))
  const pb = await proofOf(b, 0)
  const r = await prove(provider2, [pb, pa, { ...pb }])
  const evs = marketEvents(r).map((e) => [e.eventName, Number((e.args as { reason?: number }).reason ?? -1)])
  assert.deepEqual(evs, [['PeriodProven', -1], ['ProofSkipped', SKIP.NotProvider], ['ProofSkipped', SKIP.AlreadyResolved]])
  assert.equal(await credit(A(provider2)), c0[1]! + 100n)
  assert.equal(await credit(A(provider)), c0[0]! + 100n)
  // Period 0's proof resubmitted as period 1 in period 1's window: a bad proof, so a fault of period 1 (the provider
  // is not paid; the client gets the period's collateral share and its price back).
  await execAt(seedBlock(a, 1) + 1n)
  const clientCredit = await credit(A(client))
  const r1 = await prove(provider, [{ ...pa, period: 1 }])
  const f = marketEvents(r1)
  assert.deepEqual(f.map((e) => e.eventName), ['PeriodFaulted'])
  assert.equal(Number((f[0]!.args as { reason: number }).reason), FAULT.BadProof)
  assert.equal(await credit(A(provider)), c0[0]! + 100n, 'no payment for a wrong-period proof')
  assert.equal(await credit(A(client)), clientCredit + 250n + 100n)
  assert.equal(await periodState(a.id, 1), PERIOD_STATE.Faulted)
  // Deal x's valid proof under deal y's id in y's window (one provider holding both, windows overlapping): a bad proof
  // of y, not a payment; x's own proof in the same batch still counts.
  const x = await openActive()
  const y = await openActive()
  await execAt(seedBlock(y, 0) + 1n)
  assert.ok(seedBlock(y, 0) + 1n <= periodEnd(x, 0))
  const px = await proofOf(x, 0)
  const p1 = await credit(A(provider))
  const r2 = await prove(provider, [{ ...px, dealId: y.id }, px])
  assert.deepEqual(marketEvents(r2).map((e) => [e.eventName, (e.args as { dealId: Hex }).dealId]), [['PeriodFaulted', y.id], ['PeriodProven', x.id]])
  assert.equal(await credit(A(provider)), p1 + 100n, 'paid for x only')
})

test('a forged path, a forged leaf, a missing or an extra sibling: each faults the period; the provider is not paid', async () => {
  const cases: [string, (p: { leaves: Uint8Array; siblings: Uint8Array }) => { leaves: Uint8Array; siblings: Uint8Array }][] = [
    ['sibling byte flipped', (p) => { const s = p.siblings.slice(); s[s.length - 3]! ^= 1; return { ...p, siblings: s } }],
    ['leaf byte flipped', (p) => { const l = p.leaves.slice(); l[5]! ^= 0x80; return { ...p, leaves: l } }],
    ['missing sibling', (p) => ({ ...p, siblings: p.siblings.slice(0, p.siblings.length - 20) })],
    ['extra sibling', (p) => ({ ...p, siblings: new Uint8Array([...p.siblings, ...p.siblings.slice(0, 20)]) })],
    ['siblings not a multiple of 20', (p) => ({ ...p, siblings: p.siblings.slice(0, p.siblings.length - 1) })],
    ['leaves of another replica', (p) => ({ ...p, leaves: p.leaves.map((x) => x ^ 0x11) })],
    ['no leaves', (p) => ({ ...p, leaves: new Uint8Array(0) })],
  ]
  for (const [what, forge] of cases) {
    const d = await openActive({ terms: { periods: 2 } })
    await execAt(seedBlock(d, 0) + 1n)
    const pr = await proofOf(d, 0)
    const p0 = await credit(A(provider)), c0 = await credit(A(client)), t0 = await snapshotBalances()
    const r = await prove(provider, [{ ...pr, ...forge(pr) }])
    const evs = marketEvents(r)
    assert.deepEqual(evs.map((e) => e.eventName), ['PeriodFaulted'], what)
    assert.equal(Number((evs[0]!.args as { reason: number }).reason), FAULT.BadProof, what)
    assert.equal(await credit(A(provider)), p0, `${what}: the provider is not paid`)
    assert.equal(await credit(A(client)), c0 + 500n + 100n, `${what}: the client gets the share and the price`)
    assert.deepEqual(await snapshotBalances(), t0, `${what}: no token leaves the market`)
    // And the honest proof cannot follow: the period is resolved.
    await reverts(prove(provider, [pr]), 'StorageMarketNothingProven', (x) => assert.equal(Number(x[2]), SKIP.AlreadyResolved))
  }
})

test('faults: nobody faults an open window; anyone faults a missed one (and the missed ones before it); a proven period cannot be faulted', async () => {
  const d = await openActive({ terms: { periods: 3, collateral: 1001n } })
  await reverts(smSend(env, stranger, market, 'fault', [d.id, 0n]), 'StorageMarketWindowOpen')
  await execAt(seedBlock(d, 0) + 1n)
  await prove(provider, [await proofOf(d, 0)])
  await reverts(smSend(env, client, market, 'fault', [d.id, 0n]), 'StorageMarketPeriodResolved')
  await reverts(smSend(env, stranger, market, 'fault', [d.id, 3n]), 'StorageMarketPeriodOutOfRange')
  await execAt(periodEnd(d, 2) + 1n)
  const c0 = await credit(A(client))
  const r = await smSend(env, stranger, market, 'fault', [d.id, 2n])
  const evs = marketEvents(r).map((e) => [Number((e.args as { period: bigint }).period), (e.args as { slashed: bigint }).slashed])
  assert.deepEqual(evs, [[1, 333n], [2, 335n]], 'the last period takes the rounding remainder')
  assert.equal(await credit(A(client)), c0 + 333n + 335n + 200n)
  await reverts(smSend(env, stranger, market, 'fault', [d.id, 1n]), 'StorageMarketPeriodResolved')
  // finalize returns the rest of the collateral (period 0's share) to the provider.
  const p0 = await credit(A(provider))
  await smSend(env, stranger, market, 'finalize', [d.id])
  assert.equal(await credit(A(provider)), p0 + 333n)
  assert.equal((await dealView(d.id)).state, 4)
  await reverts(smSend(env, stranger, market, 'finalize', [d.id]), 'StorageMarketNotActive')
})

test('termination: by the client the later periods\' escrow comes back; by the provider it also forfeits their collateral', async () => {
  const byClient = await openActive({ terms: { periods: 4 } })
  await reverts(smSend(env, stranger, market, 'terminate', [byClient.id]), 'StorageMarketNotParty')
  const c0 = await credit(A(client))
  await smSend(env, client, market, 'terminate', [byClient.id]) // in period 0: periods 1..3 cancelled
  assert.equal(await credit(A(client)), c0 + 300n)
  assert.equal(await periodState(byClient.id, 1), PERIOD_STATE.Cancelled)
  await reverts(smSend(env, client, market, 'terminate', [byClient.id]), 'StorageMarketNothingToCancel')
  await execAt(seedBlock(byClient, 0) + 1n)
  await prove(provider, [await proofOf(byClient, 0)])
  await reverts(smSend(env, stranger, market, 'fault', [byClient.id, 1n]), 'StorageMarketPeriodCancelled')
  await reverts(smSend(env, stranger, market, 'finalize', [byClient.id]), 'StorageMarketNotEnded')
  await execAt(periodEnd(byClient, 0) + 1n)
  const p0 = await credit(A(provider))
  await smSend(env, stranger, market, 'finalize', [byClient.id])
  assert.equal(await credit(A(provider)), p0 + 1000n, 'the provider keeps its whole collateral')

  const byProvider = await openActive({ terms: { periods: 4 } })
  const c1 = await credit(A(client))
  await smSend(env, provider, market, 'terminate', [byProvider.id])
  assert.equal(await credit(A(client)), c1 + 300n + 750n)
  await execAt(periodEnd(byProvider, 0) + 1n)
  const p1 = await credit(A(provider))
  await smSend(env, stranger, market, 'finalize', [byProvider.id]) // period 0 missed: slashed too
  assert.equal(await credit(A(provider)), p1)
  assert.equal(await credit(A(client)), c1 + 300n + 750n + 250n + 100n)
})

test('seeds: recorded seeds outlive BLOCKHASH; an unrecorded old seed comes from EIP-2935 when the history contract has code, else a named error', async () => {
  const d = await openActive({ terms: { periods: 3 } })
  await reverts(smRead(env, market, 'seedOf', [d.id, 0n]), 'StorageMarketSeedNotYet')
  await execAt(periodEnd(d, 2) + 1n)
  const rec = await smSend(env, stranger, market, 'recordSeed', [d.id, 0n])
  assert.equal(marketEvents(rec)[0]!.eventName, 'SeedRecorded')
  const again = await smSend(env, stranger, market, 'recordSeed', [d.id, 0n])
  assert.equal(marketEvents(again).length, 0, 'recording twice is a no-op')
  await env.chain.dev!.mine(300)
  assert.equal(await smRead<Hex>(env, market, 'seedOf', [d.id, 0n]), await blockHash(seedBlock(d, 0)))
  await reverts(smRead(env, market, 'seedOf', [d.id, 1n]), 'StorageMarketSeedUnavailable')
  await reverts(smSend(env, stranger, market, 'recordSeed', [d.id, 1n]), 'StorageMarketSeedUnavailable')
  // Install the EIP-2935 contract (cancun has none) and fill the slot of period 1's seed block like the system call does.
  const HISTORY = '0x0000F90827F1C53a10cb7A02335B175320002935'
  const code = '0x3373fffffffffffffffffffffffffffffffffffffffe14604657602036036042575f35600143038111604257611fff81430311604257611fff9006545f5260205ff35b5f5ffd5b5f35611fff60014303065500'
  await env.chain.provider.request({ method: 'hardhat_setCode', params: [HISTORY, code] })
  const sb = seedBlock(d, 1)
  const h = await blockHash(sb)
  await env.chain.provider.request({ method: 'hardhat_setStorageAt', params: [HISTORY, toHex(sb % 8191n, { size: 32 }), h] })
  assert.equal(await smRead<Hex>(env, market, 'seedOf', [d.id, 1n]), h)
  await smSend(env, stranger, market, 'recordSeed', [d.id, 1n])
  // Period 2's slot was never filled: the history contract answers zero, still a named error.
  await reverts(smRead(env, market, 'seedOf', [d.id, 2n]), 'StorageMarketSeedUnavailable')
  await env.chain.provider.request({ method: 'hardhat_setCode', params: [HISTORY, '0x'] })
  assert.equal(await smRead<Hex>(env, market, 'seedOf', [d.id, 1n]), h, 'recorded')
})

test('self-dealing: a client that is its own provider only moves its own money', async () => {
  const d = await openActive({ clientKey: client2, providerKey: client2 })
  const t0 = await tokenBal(A(client2))
  await execAt(periodEnd(d, 3) + 1n)
  await smSend(env, stranger, market, 'finalize', [d.id])
  await smSend(env, client2, market, 'withdraw')
  assert.equal(await tokenBal(A(client2)), t0 + 1400n)
})

test('bench: measureStorageGas runs on the embedded chain and gives positive figures', async () => {
  const g = await measureStorageGas()
  for (const [k, v] of Object.entries(g)) assert.ok(Number.isFinite(v) && v > 0, `${k} = ${v}`)
  console.log(`storage gas: ${JSON.stringify(g)}`)
})
