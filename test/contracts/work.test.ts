/**
 * Direct tests of WorkMarket (contracts/WorkMarket.sol): a job's life with real work trees from src/proofs/work, and
 * each bad input of issue 13 — units outside the job, a root posted twice, a replayed claim, a proof for another
 * job, a verdict from a non-checker or of another job, a fault outside the window, a settle of a faulted batch, a
 * bad deal or bad terms — refused with its named error and no token moved; demands, answers and missing faults;
 * the vectors (the contract's leaf, path check, challenges and verdict digest equal src/proofs/work's).
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { keccak256, parseEventLogs, toHex, type Address, type Hex, type TransactionReceipt } from 'viem'
import * as C from '../../artifacts/contracts.js'
import { ContractRevertError } from '../../src/chain/index.js'
import { challengedUnits, signVerdict, verdictDigest, workLeaf, workPath } from '../../src/proofs/work/index.js'
import type { ComputeTermsArg } from '../../src/services/compute/contract.js'
import { sendTogether } from './helpers.js'
import { BATCH, DEMAND, SKIP, makeBatch, openJobArgs, setupWork, signedJob, wmRead, wmSend, workTermsFor, type WorkBatch } from './work-model.js'

const we = await setupWork({ accounts: 9 })
after(() => we.env.chain.close())
const { env, market, token } = we
const [, client, worker, checker, checker2, stranger, client2, worker2] = env.keys as Hex[]
const A = (k: Hex) => env.addr(k).toLowerCase() as Address
const CHECKERS = [A(checker!), A(checker2!)]
const vdomain = { chainId: env.chain.chainId, verifyingContract: market }

const tokenBal = (who: Address) => env.chain.public.readContract({ address: token, abi: C.SoukTokenAbi, functionName: 'balanceOf', args: [who] })
const credit = (who: Address) => wmRead<bigint>(env, market, 'balanceOf', [who])
const blockNo = () => env.chain.blockNumber()
const blockHash = async (n: bigint) => ((await env.chain.provider.request({ method: 'eth_getBlockByNumber', params: [toHex(n), false] })) as { hash: Hex }).hash
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
/** Token balances and market credits of everyone: a refused call changes none. */
const books = async () => {
  const ks = [client, worker, checker, checker2, stranger, client2, worker2] as Hex[]
  return [...(await Promise.all(ks.map((k) => tokenBal(A(k))))), await tokenBal(market), ...(await Promise.all(ks.map((k) => credit(A(k)))))]
}
const events = (r: TransactionReceipt) => parseEventLogs({ abi: C.WorkMarketAbi, logs: r.logs.filter((l) => l.address.toLowerCase() === market.toLowerCase()) })

interface Job { id: Hex; terms: ComputeTermsArg; clientKey: Hex; workerKey: Hex; batches: (WorkBatch & { batch: number; seedBlock: bigint })[] }
let jobNo = 0
async function openJob(o: { terms?: Partial<ComputeTermsArg>; clientKey?: Hex; workerKey?: Hex } = {}): Promise<Job> {
  const terms = workTermsFor(we, CHECKERS, { profile: keccak256(toHex(`job-${++jobNo}`)), ...o.terms })
  const clientKey = o.clientKey ?? client!, workerKey = o.workerKey ?? worker!
  const r = await wmSend(env, clientKey, market, 'openJob', openJobArgs(signedJob(we, workerKey, clientKey, terms)))
  const id = (events(r).find((e) => e.eventName === 'JobOpened')!.args as { jobId: Hex }).jobId
  return { id, terms, clientKey, workerKey, batches: [] }
}
async function claim(j: Job, count: number, tag = 'honest') {
  const first = j.batches.reduce((t, b) => t + b.count, 0)
  const b = makeBatch(tag, first, count)
  const r = await wmSend(env, j.workerKey, market, 'claimWork', [j.id, BigInt(first), BigInt(count), b.tree.root])
  const ev = events(r)[0]!.args as { batch: bigint }
  const out = { ...b, batch: Number(ev.batch), seedBlock: r.blockNumber + BigInt(j.terms.challengeDelay) }
  j.batches.push(out)
  return { ...out, gas: r.gasUsed }
}
/** Challenged index i's unit and what a fault of it needs. */
async function faultArgs(j: Job, b: number, i: number, o: { signers?: Hex[]; jobForSig?: Hex } = {}) {
  const bt = j.batches[b]!
  const unit = challengedUnits(await blockHash(bt.seedBlock), j.id, b, bt.first, bt.count, j.terms.checksPerBatch)[i]!
  const leaf = bt.units[unit - bt.first]!
  const sigs = await Promise.all((o.signers ?? [checker!]).map((k) => signVerdict(k, vdomain, { jobId: o.jobForSig ?? j.id, batch: b, unit, output: leaf.outputHash })))
  return { unit, leaf, path: workPath(bt.tree, unit - bt.first), sigs, args: [j.id, BigInt(b), BigInt(i), leaf.inputHash, leaf.outputHash, workPath(bt.tree, unit - bt.first), sigs] as unknown[] }
}
const batchView = (id: Hex, b: number) => wmRead<{ state: number; root: Hex; first: bigint; count: bigint; seedBlock: bigint; windowEnd: bigint; openDemands: bigint }>(env, market, 'batchOf', [id, BigInt(b)])
const jobView = (id: Hex) => wmRead<{ nextUnit: bigint; batches: bigint; settled: bigint; faults: bigint; escrowLeft: bigint; stakeLeft: bigint; owedToClient: bigint; finalized: boolean }>(env, market, 'jobs', [id])

test('a job\'s life: open escrows and pulls the stake, claims in order, settle after the window pays, finalize returns the rest', async () => {
  const c0 = await tokenBal(A(client!)), w0 = await tokenBal(A(worker!))
  const j = await openJob()
  assert.equal(await tokenBal(A(client!)), c0 - 640n)
  assert.equal(await tokenBal(A(worker!)), w0 - 1000n)
  const b0 = await claim(j, 16)
  const b1 = await claim(j, 5)
  assert.deepEqual([b0.batch, b1.batch], [0, 1])
  const v = await batchView(j.id, 1)
  assert.deepEqual([v.state, v.first, v.count, v.root], [BATCH.Claimed, 16n, 5n, b1.tree.root])
  // Challenges: the contract draws what challengedUnits draws.
  await reverts(wmRead(env, market, 'challengedUnits', [j.id, 0n]), 'WorkMarketSeedNotYet')
  await execAt(b1.seedBlock + 2n)
  for (const b of [b0, b1]) {
    const onChain = (await wmRead<readonly bigint[]>(env, market, 'challengedUnits', [j.id, BigInt(b.batch)])).map(Number)
    assert.deepEqual(onChain, challengedUnits(await blockHash(b.seedBlock), j.id, b.batch, b.first, b.count, 4))
    assert.equal(onChain.length, Math.min(4, b.count))
  }
  await reverts(wmSend(env, stranger!, market, 'settle', [j.id, [0n]]), 'WorkMarketNothingSettled', (a) => assert.equal(Number(a[2]), SKIP.WindowOpen))
  await execAt(b1.seedBlock + 11n)
  const r = await wmSend(env, stranger!, market, 'settle', [j.id, [0n, 1n, 1n, 7n]])
  assert.deepEqual(events(r).map((e) => [e.eventName, Number((e.args as { batch: bigint }).batch)]), [['BatchSettled', 0], ['BatchSettled', 1], ['SettleSkipped', 1], ['SettleSkipped', 7]])
  assert.equal(await credit(A(worker!)), 210n)
  await reverts(wmSend(env, stranger!, market, 'finalize', [j.id]), 'WorkMarketJobRunning')
  // The rest of the units in three claims, then finalize: nothing left to refund, the whole stake back.
  for (const n of [16, 16, 11]) await claim(j, n)
  await reverts(wmSend(env, worker!, market, 'claimWork', [j.id, 64n, 1n, `0x${'11'.repeat(32)}`]), 'WorkMarketUnitsOutOfRange')
  await reverts(wmSend(env, stranger!, market, 'finalize', [j.id]), 'WorkMarketBatchesUnresolved', (a) => assert.equal(a[1], 3n))
  await execAt(j.batches.at(-1)!.seedBlock + 11n)
  await wmSend(env, stranger!, market, 'settle', [j.id, [2n, 3n, 4n]])
  const f = await wmSend(env, stranger!, market, 'finalize', [j.id])
  assert.deepEqual(events(f)[0]!.args, { jobId: j.id, toClient: 0n, toWorker: 1000n })
  await reverts(wmSend(env, stranger!, market, 'finalize', [j.id]), 'WorkMarketJobFinalized')
  await reverts(wmSend(env, worker!, market, 'claimWork', [j.id, 64n, 1n, `0x${'11'.repeat(32)}`]), 'WorkMarketJobFinalized')
  await wmSend(env, worker!, market, 'withdraw')
  assert.equal(await tokenBal(A(worker!)), w0 + 640n)
  await reverts(wmSend(env, worker!, market, 'withdraw'), 'WorkMarketNothingToWithdraw')
  console.log(`work: claimWork ${b0.gas} gas (16 units), ${b1.gas} gas (5 units)`)
})

test('bad claims: units outside the job or out of order, a replayed claim, a root posted twice, a stranger, too big a batch, stake too low — refused by name, nothing moves', async () => {
  const j = await openJob({ terms: { stake: 250n, slash: 100n } }) // cap: 2 unsettled batches
  const before = await books()
  const root = `0x${'ab'.repeat(32)}` as Hex
  const cw = (key: Hex, first: bigint, count: bigint, r: Hex = root) => wmSend(env, key, market, 'claimWork', [j.id, first, count, r])
  await reverts(cw(stranger!, 0n, 4n), 'WorkMarketNotWorker')
  await reverts(cw(worker!, 1n, 4n), 'WorkMarketUnitsOutOfOrder', (a) => assert.deepEqual([a[1], a[2]], [1n, 0n]))
  await reverts(cw(worker!, 64n, 1n), 'WorkMarketUnitsOutOfOrder')
  await reverts(cw(worker!, 0n, 65n), 'WorkMarketUnitsOutOfRange')
  await reverts(cw(worker!, 0n, 2n ** 255n), 'WorkMarketUnitsOutOfRange')
  await reverts(cw(worker!, 0n, 17n), 'WorkMarketBadBatchSize')
  await reverts(cw(worker!, 0n, 0n), 'WorkMarketBadBatchSize')
  await reverts(cw(worker!, 0n, 4n, `0x${'00'.repeat(32)}`), 'WorkMarketZeroRoot')
  await reverts(wmSend(env, worker!, market, 'claimWork', [`0x${'cd'.repeat(32)}`, 0n, 4n, root]), 'WorkMarketUnknownJob')
  assert.deepEqual(await books(), before)
  await cw(worker!, 0n, 4n)
  await reverts(cw(worker!, 0n, 4n), 'WorkMarketUnitsOutOfOrder') // the replay
  await reverts(cw(worker!, 4n, 4n), 'WorkMarketRootAlreadyPosted') // the same root for the next units
  await cw(worker!, 4n, 4n, `0x${'ac'.repeat(32)}`)
  await reverts(cw(worker!, 8n, 4n, `0x${'ad'.repeat(32)}`), 'WorkMarketStakeTooLow', (a) => assert.deepEqual([a[1], a[2]], [300n, 250n]))
  assert.deepEqual((await jobView(j.id)).nextUnit, 8n)
  // Past the claim deadline no claim is accepted; finalize refunds the unclaimed units once the claimed ones resolve.
  await env.chain.dev!.mine(200)
  await reverts(cw(worker!, 8n, 4n, `0x${'ad'.repeat(32)}`), 'WorkMarketClaimClosed')
  await wmSend(env, stranger!, market, 'settle', [j.id, [0n, 1n]])
  const c0 = await credit(A(client!))
  await wmSend(env, stranger!, market, 'finalize', [j.id])
  assert.equal(await credit(A(client!)), c0 + 56n * 10n)
})

test('a verdict fault slashes: the finder gets its fee now, the client its share and the batch\'s price at finalize; the batch is never paid', async () => {
  const j = await openJob()
  await claim(j, 16, 'lazy')
  await claim(j, 8)
  await execAt(j.batches[1]!.seedBlock + 1n)
  const fa = await faultArgs(j, 0, 2)
  const before = await books()
  const r = await wmSend(env, stranger!, market, 'fault', fa.args)
  assert.deepEqual(events(r).map((e) => e.eventName), ['BatchFaulted'])
  assert.equal(await credit(A(stranger!)), before[7 + 4]! + 10n, 'the finder\'s fee: 10% of the slash')
  assert.deepEqual((await books()).slice(0, 8), before.slice(0, 8), 'no token moved')
  assert.equal((await batchView(j.id, 0)).state, BATCH.Faulted)
  const v = await jobView(j.id)
  assert.deepEqual([v.faults, v.stakeLeft, v.owedToClient], [1n, 900n, 90n])
  // Replays and the settle of the faulted batch.
  await reverts(wmSend(env, stranger!, market, 'fault', fa.args), 'WorkMarketBatchResolved')
  await execAt(j.batches[1]!.seedBlock + 11n)
  await reverts(wmSend(env, stranger!, market, 'settle', [j.id, [0n]]), 'WorkMarketNothingSettled', (a) => assert.equal(Number(a[2]), SKIP.Faulted))
  await wmSend(env, stranger!, market, 'settle', [j.id, [1n]])
  await env.chain.dev!.mine(200)
  const c0 = await credit(A(client!)), w0 = await credit(A(worker!))
  await wmSend(env, stranger!, market, 'finalize', [j.id])
  assert.equal(await credit(A(client!)), c0 + (64n - 8n) * 10n + 90n)
  assert.equal(await credit(A(worker!)), w0 + 900n)
})

test('bad faults: a forged path or leaf, a proof for another job, outside the window, an index past k, no signatures, the client\'s own, a non-checker, a verdict of another job, a repeated signer — refused by name, nothing moves', async () => {
  const j = await openJob({ terms: { quorum: 2, disputeWindow: 100 } })
  const other = await openJob()
  await claim(j, 16)
  await claim(other, 16)
  const early = await faultArgs(j, 0, 0, { signers: [] }).catch(() => undefined)
  assert.equal(early, undefined, 'the seed is not mined yet')
  const fault = (args: unknown[], key = stranger!) => wmSend(env, key, market, 'fault', args)
  await execAt(j.batches[0]!.seedBlock)
  // Too early: the seed block itself.
  await reverts(fault([j.id, 0n, 0n, ...Array(2).fill(`0x${'11'.repeat(32)}`), [], []]), 'WorkMarketNotInWindow')
  await execAt(other.batches[0]!.seedBlock + 1n)
  const fa = await faultArgs(j, 0, 1, { signers: [checker!, checker2!] })
  const before = await books()
  const mod = (k: number, v: unknown) => fa.args.map((x, i) => (i === k ? v : x))
  const flip = (h: Hex) => `0x${(BigInt(h) ^ 1n).toString(16).padStart(64, '0')}` as Hex
  await reverts(fault(mod(4, flip(fa.leaf.outputHash))), 'WorkMarketBadProof')
  await reverts(fault(mod(3, flip(fa.leaf.inputHash))), 'WorkMarketBadProof')
  await reverts(fault(mod(5, [...fa.path.slice(0, -1), flip(fa.path.at(-1)!)])), 'WorkMarketBadProof')
  await reverts(fault(mod(5, fa.path.slice(1))), 'WorkMarketBadProof')
  await reverts(fault(mod(5, [...fa.path, fa.path[0]!])), 'WorkMarketBadProof')
  await reverts(fault(mod(2, 4n)), 'WorkMarketIndexOutOfRange')
  // A proof of the other job's batch under this job's id: not this job's root.
  const fo = await faultArgs(other, 0, 1)
  // Both jobs claim the same unit hashes, so when the two seeds draw the same unit the other job's leaf and path are
  // also valid for this one and the fault stops at its single signature instead: refused either way, by name.
  await assert.rejects(fault([j.id, ...fo.args.slice(1)]), (e: unknown) => /WorkMarket(BadProof|QuorumNotMet)/.test(String((e as { errorName?: string }).errorName ?? e)))
  await reverts(fault(mod(6, [])), 'WorkMarketQuorumNotMet', (a) => assert.deepEqual([a[1], a[2]], [0n, 2n]))
  await reverts(fault(mod(6, [fa.sigs[0]!])), 'WorkMarketQuorumNotMet')
  const own = await signVerdict(client!, vdomain, { jobId: j.id, batch: 0, unit: fa.unit, output: fa.leaf.outputHash })
  await reverts(fault(mod(6, [own, fa.sigs[0]!]), client!), 'WorkMarketNotChecker', (a) => assert.equal(String(a[1]).toLowerCase(), A(client!)))
  await reverts(fault(mod(6, [fa.sigs[0]!, fa.sigs[0]!])), 'WorkMarketDuplicateSigner')
  const otherJobs = await faultArgs(j, 0, 1, { signers: [checker!, checker2!], jobForSig: other.id })
  await reverts(fault(mod(6, otherJobs.sigs)), 'WorkMarketNotChecker')
  await reverts(fault(mod(6, [fa.sigs[0]!, '0x1234'])), 'WorkMarketBadSignature', (a) => assert.equal(a[0], 1n))
  const highS = (() => { const s = BigInt(`0x${fa.sigs[0]!.slice(66, 130)}`); const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n; const v = fa.sigs[0]!.slice(130) === '1b' ? '1c' : '1b'; return `${fa.sigs[0]!.slice(0, 66)}${(n - s).toString(16).padStart(64, '0')}${v}` as Hex })()
  await reverts(fault(mod(6, [highS, fa.sigs[1]!])), 'WorkMarketBadSignature')
  await reverts(fault([j.id, 9n, ...fa.args.slice(2)]), 'WorkMarketUnknownBatch')
  await reverts(fault([`0x${'ee'.repeat(32)}`, ...fa.args.slice(1)]), 'WorkMarketUnknownJob')
  assert.deepEqual(await books(), before, 'no refused fault moved a token or a credit')
  // After the window: too late.
  await execAt(j.batches[0]!.seedBlock + 101n)
  await reverts(fault(fa.args), 'WorkMarketNotInWindow')
  assert.deepEqual(await books(), before)
})

test('front-running: a stranger copying a fault takes the finder\'s fee but the batch faults once; settle and fault in one block resolve once', async () => {
  const j = await openJob()
  await claim(j, 8)
  await execAt(j.batches[0]!.seedBlock + 1n)
  const fa = await faultArgs(j, 0, 0)
  const res = await sendTogether(env, [
    { key: stranger!, p: { address: market, abi: C.WorkMarketAbi, functionName: 'fault', args: fa.args } },
    { key: client!, p: { address: market, abi: C.WorkMarketAbi, functionName: 'fault', args: fa.args } },
  ])
  assert.deepEqual(res.map((x) => x.ok), [true, false], 'the copy lands first, the original is refused (the batch is resolved)')
  assert.equal((await jobView(j.id)).faults, 1n)
  // A settle racing a fault at the window's last block: the fault (first in the block) wins, the settle is refused.
  const k = await openJob()
  await claim(k, 8)
  await execAt(k.batches[0]!.seedBlock + 10n)
  const fk = await faultArgs(k, 0, 0)
  const res2 = await sendTogether(env, [
    { key: stranger!, p: { address: market, abi: C.WorkMarketAbi, functionName: 'settle', args: [k.id, [0n]] } },
    { key: checker!, p: { address: market, abi: C.WorkMarketAbi, functionName: 'fault', args: fk.args } },
  ])
  assert.deepEqual(res2.map((x) => x.ok), [false, true], 'settle inside the window is refused; the fault lands')
  assert.equal((await batchView(k.id, 0)).state, BATCH.Faulted)
})

test('demands: the worker answers with the leaf (the window extends), or anyone faults it after the deadline; open demands block settle', async () => {
  const j = await openJob({ terms: { disputeWindow: 30, responseWindow: 20 } })
  await claim(j, 16)
  await claim(j, 16)
  await execAt(j.batches[1]!.seedBlock + 1n)
  await reverts(wmSend(env, stranger!, market, 'demand', [j.id, 0n, 0n]), 'WorkMarketNotClientOrChecker')
  await reverts(wmSend(env, client!, market, 'demand', [j.id, 0n, 4n]), 'WorkMarketIndexOutOfRange')
  const d = await wmSend(env, client!, market, 'demand', [j.id, 0n, 1n])
  assert.deepEqual(events(d).map((e) => e.eventName), ['SeedRecorded', 'ChallengeDemanded'])
  await reverts(wmSend(env, checker!, market, 'demand', [j.id, 0n, 1n]), 'WorkMarketAlreadyDemanded')
  await wmSend(env, checker!, market, 'demand', [j.id, 1n, 0n])
  const fa = await faultArgs(j, 0, 1)
  await reverts(wmSend(env, stranger!, market, 'answer', [j.id, 0n, 1n, ...fa.args.slice(3, 6)]), 'WorkMarketNotWorker')
  await reverts(wmSend(env, worker!, market, 'answer', [j.id, 0n, 2n, ...fa.args.slice(3, 6)]), 'WorkMarketNoOpenDemand')
  await reverts(wmSend(env, worker!, market, 'answer', [j.id, 0n, 1n, fa.leaf.inputHash, fa.leaf.inputHash, fa.path]), 'WorkMarketBadProof')
  await reverts(wmSend(env, stranger!, market, 'faultMissing', [j.id, 0n, 1n]), 'WorkMarketResponsePending')
  const a = await wmSend(env, worker!, market, 'answer', [j.id, 0n, 1n, ...fa.args.slice(3, 6)])
  const ev = events(a)[0]!
  assert.equal(ev.eventName, 'ChallengeAnswered')
  assert.deepEqual((ev.args as { path: readonly Hex[] }).path, fa.path, 'the event carries the path: a fault can be built from chain data')
  assert.equal((await batchView(j.id, 0)).windowEnd, a.blockNumber + 30n)
  assert.deepEqual(await wmRead(env, market, 'demandOf', [j.id, 0n, 1n]), [DEMAND.Answered, d.blockNumber + 20n])
  // Batch 1's demand goes unanswered: settle is blocked, then anyone faults it.
  await execAt(j.batches[1]!.seedBlock + 31n)
  await reverts(wmSend(env, stranger!, market, 'settle', [j.id, [1n]]), 'WorkMarketNothingSettled', (x) => assert.equal(Number(x[2]), SKIP.DemandOpen))
  await reverts(wmSend(env, worker!, market, 'answer', [j.id, 1n, 0n, ...(await faultArgs(j, 1, 0)).args.slice(3, 6)]), 'WorkMarketResponseLate')
  const s0 = await credit(A(stranger!))
  const m = await wmSend(env, stranger!, market, 'faultMissing', [j.id, 1n, 0n])
  assert.equal(Number((events(m)[0]!.args as { reason: number }).reason), 1)
  assert.equal(await credit(A(stranger!)), s0 + 10n)
  await reverts(wmSend(env, stranger!, market, 'faultMissing', [j.id, 1n, 0n]), 'WorkMarketBatchResolved')
  // The answered batch 0: still disputable in its extended window with the answered leaf (a fault from the event).
  const p = ev.args as { inputHash: Hex; outputHash: Hex; path: readonly Hex[]; unit: bigint }
  const sig = await signVerdict(checker2!, vdomain, { jobId: j.id, batch: 0, unit: p.unit, output: p.outputHash })
  await wmSend(env, checker2!, market, 'fault', [j.id, 0n, 1n, p.inputHash, p.outputHash, p.path, [sig]])
  assert.equal((await jobView(j.id)).faults, 2n)
})

test('bad jobs: forged signatures, terms not signed, a non-compute deal, every bad term and an undeterring setting are refused by name; a job opens once', async () => {
  const good = workTermsFor(we, CHECKERS)
  const before = await books()
  const open = (x: ReturnType<typeof signedJob>, key = client!) => wmSend(env, key, market, 'openJob', openJobArgs(x))
  await reverts(open(signedJob(we, worker!, client!, good, { forgeServer: stranger! })), 'MarketDealsBadSignature', (a) => assert.equal(a[1], 'server'))
  await reverts(open(signedJob(we, worker!, client!, good, { forgeBuyer: stranger! })), 'MarketDealsBadSignature', (a) => assert.equal(a[1], 'buyer'))
  await reverts(open(signedJob(we, worker!, client!, good), stranger!), 'WorkMarketNotClient')
  const ok = signedJob(we, worker!, client!, good)
  await reverts(open({ ...ok, terms: { ...good, pricePerUnit: 1n } }), 'WorkMarketTermsMismatch', (a) => assert.equal(a[0], 'nonce'))
  await reverts(open({ ...ok, deal: { ...ok.deal, collateral: 5n } }), 'WorkMarketTermsMismatch', (a) => assert.equal(a[0], 'collateral'))
  await reverts(open({ ...ok, deal: { ...ok.deal, service: 'storage' } }), 'WorkMarketNotComputeDeal')
  const bad: [Partial<ComputeTermsArg>, string][] = [
    [{ token: market }, 'token'], [{ units: 0 }, 'units'], [{ maxBatch: 0 }, 'maxBatch'], [{ maxBatch: 2 ** 20 + 1 }, 'maxBatch'], [{ checksPerBatch: 0 }, 'checksPerBatch'],
    [{ checksPerBatch: 65 }, 'checksPerBatch'], [{ checkers: [] }, 'checkers'], [{ checkers: [CHECKERS[0]!, CHECKERS[0]!] }, 'checkers'],
    [{ checkers: [`0x${'00'.repeat(20)}`] }, 'checkers'], [{ quorum: 0 }, 'quorum'], [{ quorum: 3 }, 'quorum'], [{ finderBps: 10_001 }, 'finderBps'],
    [{ challengeDelay: 0 }, 'challengeDelay'], [{ disputeWindow: 0 }, 'disputeWindow'], [{ disputeWindow: 257 }, 'disputeWindow'], [{ responseWindow: 0 }, 'responseWindow'],
    [{ claimWithinBlocks: 0 }, 'claimWithinBlocks'], [{ slash: 0n }, 'slash'], [{ slash: 2n ** 96n, stake: 2n ** 97n }, 'amount'], [{ pricePerUnit: 2n ** 96n }, 'amount'],
    [{ claimWithinBlocks: 2 ** 32 - 1 }, 'duration'],
  ]
  for (const [over, field] of bad) {
    await reverts(open(signedJob(we, worker!, client!, { ...good, ...over })), 'WorkMarketBadTerms', (a) => assert.equal(a[0], field, field))
  }
  // The deterrence rule: slash × checks >= price × maxBatch (10 × 16 = 160 > 100 × 1), and stake >= slash.
  await reverts(open(signedJob(we, worker!, client!, { ...good, slash: 30n, checksPerBatch: 1 })), 'WorkMarketInsufficientDeterrence', (a) => assert.deepEqual(a, [160n, 30n]))
  await reverts(open(signedJob(we, worker!, client!, { ...good, stake: 99n })), 'WorkMarketInsufficientDeterrence', (a) => assert.deepEqual(a, [100n, 99n]))
  assert.deepEqual(await books(), before)
  await open(ok)
  await reverts(open(ok), 'WorkMarketJobExists')
  assert.equal(await wmRead<Hex>(env, market, 'termsHash', [openJobArgs(ok)[3]]), toHex(ok.deal.nonce, { size: 32 }))
  assert.equal(await wmRead<boolean>(env, market, 'isChecker', [(await jobIdOf(ok)), CHECKERS[1]]), true)
})
const jobIdOf = async (x: ReturnType<typeof signedJob>) => wmRead<Hex>(env, market, 'hashDeal', [openJobArgs(x)[0]])

test('vectors: the contract\'s leaf, path check and verdict digest equal src/proofs/work\'s, for batches of 1 to 1025 units', async () => {
  for (const [first, count] of [[0, 1], [7, 2], [100, 3], [5, 16], [1000, 17], [3, 1025]] as const) {
    const b = makeBatch('vec', first, count)
    for (const pos of [0, count - 1, Math.floor(count / 2)]) {
      const u = b.units[pos]!
      assert.equal(await wmRead<Hex>(env, market, 'leafOf', [BigInt(first + pos), u.inputHash, u.outputHash]), workLeaf(first + pos, u.inputHash, u.outputHash))
      const path = workPath(b.tree, pos)
      assert.equal(await wmRead<boolean>(env, market, 'verifyLeaf', [b.tree.root, BigInt(first), BigInt(count), BigInt(first + pos), u.inputHash, u.outputHash, path]), true)
      if (count > 1) assert.equal(await wmRead<boolean>(env, market, 'verifyLeaf', [b.tree.root, BigInt(first), BigInt(count), BigInt(first + ((pos + 1) % count)), u.inputHash, u.outputHash, path]), false)
    }
  }
  const v = { jobId: keccak256(toHex('job')), batch: 3n, unit: 77n, output: keccak256(toHex('out')) }
  assert.equal(await wmRead<Hex>(env, market, 'verdictDigest', [v.jobId, v.batch, v.unit, v.output]), verdictDigest(vdomain, v))
})

test('seeds: recordSeed keeps a batch\'s seed past BLOCKHASH\'s reach; an unrecorded old seed is a named error', async () => {
  const j = await openJob()
  await claim(j, 4)
  await claim(j, 4)
  await reverts(wmSend(env, stranger!, market, 'recordSeed', [j.id, 0n]), 'WorkMarketSeedNotYet')
  await execAt(j.batches[1]!.seedBlock + 1n)
  const r = await wmSend(env, stranger!, market, 'recordSeed', [j.id, 0n])
  assert.equal(events(r)[0]!.eventName, 'SeedRecorded')
  assert.equal(events(await wmSend(env, stranger!, market, 'recordSeed', [j.id, 0n])).length, 0, 'idempotent')
  await env.chain.dev!.mine(300)
  assert.equal(await wmRead<Hex>(env, market, 'seedOf', [j.id, 0n]), await blockHash(j.batches[0]!.seedBlock))
  await reverts(wmRead(env, market, 'seedOf', [j.id, 1n]), 'WorkMarketSeedUnavailable')
  await reverts(wmRead(env, market, 'seedOf', [j.id, 5n]), 'WorkMarketUnknownBatch')
})

test('self-dealing: a client that is its own worker only moves its own money', async () => {
  const j = await openJob({ clientKey: client2!, workerKey: client2! })
  const t0 = await tokenBal(A(client2!))
  await env.chain.dev!.mine(201)
  await wmSend(env, stranger!, market, 'finalize', [j.id])
  await wmSend(env, client2!, market, 'withdraw')
  assert.equal(await tokenBal(A(client2!)), t0 + 640n + 1000n)
})
