/**
 * Property test of WorkMarket: fast-check drives random call sequences from two clients, two workers (one honest,
 * one lazy: its outputs are not the profile's), two checkers and a stranger through the embedded EVM and, after
 * EVERY step, compares the chain with the reference model (work-model.ts):
 *  - the call reverts iff the model says so, with the same custom error name; a successful one emits exactly the
 *    model's events (names and arguments) and moves exactly the model's tokens out of the market;
 *  - every token balance, every withdrawable balance, every job (next unit, batches, settled, faults, paid units,
 *    escrow, stake, the client's pending share) and every batch (state, window end, open demands) equals the model;
 *  - W1 on chain values alone: market token balance == Σ (escrowLeft + stakeLeft + owedToClient) + Σ withdrawable;
 *  - W2: no batch is settled or faulted twice, nor both (events over the whole run);
 *  - W4: faults × slash <= stake; W6: each job's batches tile [0, nextUnit) in order.
 * Adversaries: a worker posting garbage roots, replaying its last claim, claiming out of range or too much, posting
 * the previous root again, a stranger claiming; a client faulting without signatures or with its own signature; a
 * stranger replaying a verdict of another job or a forged path; stranger demands and answers; front-running (a
 * stranger's copy of a fault mined first, a settle racing a fault in one block, a stranger opening someone's deal
 * first); reopened deals and forged deal signatures. Runs reset the chain with evm snapshots.
 * SOUK_TEST_SCALE=nightly runs 10x the sequences.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { encodeFunctionData, keccak256, parseEventLogs, toHex, type Abi, type Address, type Hex, type TransactionReceipt } from 'viem'
import * as C from '../../artifacts/contracts.js'
import { ContractRevertError } from '../../src/chain/index.js'
import { challengedUnit, signVerdict, workPath } from '../../src/proofs/work/index.js'
import type { ComputeTermsArg } from '../../src/services/compute/contract.js'
import { TX_GAS, transferLogs } from './helpers.js'
import {
  BATCH, ModelRevert, WorkModel, decodeWorkRevert, makeBatch, openJobArgs, setupWork, signedJob, wmRead, wmSend, workTermsFor,
  type ModelEvent, type WorkBatch, type WorkEnv,
} from './work-model.js'

const NIGHTLY = process.env.SOUK_TEST_SCALE === 'nightly'
const RUNS = NIGHTLY ? 300 : 30
const STEPS = 60

type Cmd =
  | { t: 'open'; client: number; worker: number; units: number; maxBatch: number; checks: number; quorum: number; price: number; slashX: number; stakeX: number; bad: 'none' | 'forge' | 'stranger' | 'frontRun' | 'reopen' | 'weak' }
  | { t: 'claim'; job: number; count: number; kind: 'ok' | 'garbage' | 'replay' | 'outOfRange' | 'tooBig' | 'sameRoot' | 'stranger' }
  | { t: 'fault'; job: number; batchOff: number; index: number; kind: 'verdict' | 'noSigs' | 'clientSig' | 'otherJob' | 'forgedPath' | 'copyFirst'; toWindow: boolean }
  | { t: 'demand'; job: number; batchOff: number; index: number; by: 'client' | 'checker' | 'stranger'; toWindow: boolean; answer: boolean }
  | { t: 'answer'; job: number; kind: 'ok' | 'forged' | 'stranger' }
  | { t: 'faultMissing'; job: number; wait: boolean }
  | { t: 'settle'; job: number; offs: number[]; wait: boolean; race: boolean }
  | { t: 'finalize'; job: number; wait: boolean }
  | { t: 'recordSeed'; job: number; batchOff: number }
  | { t: 'withdraw'; who: number }
  | { t: 'mine'; n: number }

const idx = fc.integer({ min: 0, max: 1000 })
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('open' as const), client: fc.integer({ min: 0, max: 1 }), worker: fc.integer({ min: 0, max: 1 }), units: fc.integer({ min: 1, max: 40 }),
      maxBatch: fc.integer({ min: 1, max: 12 }), checks: fc.integer({ min: 1, max: 4 }), quorum: fc.integer({ min: 1, max: 2 }), price: fc.integer({ min: 0, max: 5 }),
      slashX: fc.integer({ min: 1, max: 3 }), stakeX: fc.integer({ min: 1, max: 4 }),
      bad: fc.constantFrom('none', 'none', 'none', 'none', 'none', 'forge', 'stranger', 'frontRun', 'reopen', 'weak'),
    }),
  },
  { weight: 10, arbitrary: fc.record({ t: fc.constant('claim' as const), job: idx, count: fc.integer({ min: 0, max: 14 }), kind: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'garbage', 'replay', 'outOfRange', 'tooBig', 'sameRoot', 'stranger') }) },
  { weight: 8, arbitrary: fc.record({ t: fc.constant('fault' as const), job: idx, batchOff: fc.nat({ max: 3 }), index: fc.integer({ min: 0, max: 4 }), kind: fc.constantFrom('verdict', 'verdict', 'verdict', 'noSigs', 'clientSig', 'otherJob', 'forgedPath', 'copyFirst'), toWindow: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('demand' as const), job: idx, batchOff: fc.nat({ max: 2 }), index: fc.integer({ min: 0, max: 4 }), by: fc.constantFrom('client', 'client', 'checker', 'stranger'), toWindow: fc.integer({ min: 0, max: 3 }).map((x) => x > 0), answer: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('answer' as const), job: idx, kind: fc.constantFrom('ok', 'ok', 'forged', 'stranger') }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('faultMissing' as const), job: idx, wait: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('settle' as const), job: idx, offs: fc.array(fc.integer({ min: -1, max: 4 }), { minLength: 0, maxLength: 3 }), wait: fc.boolean(), race: fc.integer({ min: 0, max: 4 }).map((x) => x === 0) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('finalize' as const), job: idx, wait: fc.integer({ min: 0, max: 3 }).map((x) => x === 0) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('recordSeed' as const), job: idx, batchOff: fc.nat({ max: 2 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('withdraw' as const), who: fc.nat({ max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('mine' as const), n: fc.integer({ min: 1, max: 15 }) }) },
)

interface Actors { clients: Hex[]; workers: Hex[]; checkers: Hex[]; stranger: Hex; all: Hex[] }
interface JobInfo { id: Hex; terms: ComputeTermsArg; clientKey: Hex; workerKey: Hex; lazy: boolean; batches: WorkBatch[]; signed: ReturnType<typeof signedJob> }
interface Tx { key: Hex; fn: string; args: readonly unknown[]; modelOp: (m: WorkModel) => unknown; onOk?: (r: TransactionReceipt) => void }

const M_ABI = C.WorkMarketAbi as unknown as Abi
const norm = (v: unknown): unknown => (typeof v === 'number' ? BigInt(v) : typeof v === 'string' ? v.toLowerCase() : v)

class Run {
  model: WorkModel
  readonly jobs: JobInfo[] = []
  readonly hashes = new Map<bigint, Hex>()
  readonly resolved = new Set<string>()
  readonly stats = { ok: new Map<string, number>(), reverts: new Map<string, number>(), faults: 0, settled: 0 }
  private counter = 0

  constructor(readonly we: WorkEnv, readonly a: Actors, base: WorkModel, readonly runId: number) {
    this.model = base.clone()
    this.model.p.blockHash = (n) => {
      const h = this.hashes.get(n)
      if (!h) throw new Error(`harness: block hash ${n} not fetched`)
      return h
    }
  }
  get env() { return this.we.env }
  get market() { return this.we.market }
  addr(k: Hex) { return this.env.addr(k) }

  private async hashOf(n: bigint): Promise<Hex> {
    let h = this.hashes.get(n)
    if (!h) {
      h = ((await this.env.chain.provider.request({ method: 'eth_getBlockByNumber', params: [toHex(n), false] })) as { hash: Hex }).hash
      this.hashes.set(n, h)
    }
    return h
  }
  /** Fetches every mined seed block's hash (what the model may read). */
  private async fetchSeeds() {
    for (const id of this.model.jobIds()) for (const b of this.model.job(id)!.batches) if (b.seedBlock <= this.model.block) await this.hashOf(b.seedBlock)
  }
  private async mine(n: bigint) {
    if (n > 0n) await this.env.chain.dev!.mine(Number(n))
    this.model.block = await this.env.chain.blockNumber()
  }
  /** Mines so that the next transaction executes in block `target`. */
  private execAt(target: bigint) { return this.mine(target - 1n - this.model.block) }

  async step(txs: Tx[]) {
    await this.fetchSeeds()
    const outcomes: { err?: ContractRevertError; receipt?: TransactionReceipt }[] = []
    if (txs.length === 1) {
      try {
        outcomes.push({ receipt: await wmSend(this.env, txs[0]!.key, this.market, txs[0]!.fn, txs[0]!.args) })
      } catch (e) {
        if (!(e instanceof ContractRevertError)) throw e
        outcomes.push({ err: e })
      }
    } else outcomes.push(...(await this.together(txs)))
    for (let i = 0; i < txs.length; i++) this.settleTx(txs[i]!, outcomes[i]!)
    this.model.block = await this.env.chain.blockNumber()
    await this.check()
  }

  private async together(txs: Tx[]) {
    const prov = this.env.chain.provider
    await prov.request({ method: 'evm_setAutomine', params: [false] })
    const hashes: Hex[] = []
    try {
      for (const tx of txs) {
        const data = encodeFunctionData({ abi: M_ABI, functionName: tx.fn, args: tx.args } as never)
        hashes.push((await prov.request({ method: 'eth_sendTransaction', params: [{ from: this.addr(tx.key), to: this.market, data, gas: toHex(TX_GAS) }] })) as Hex)
      }
      await prov.request({ method: 'evm_mine', params: [] })
    } finally {
      await prov.request({ method: 'evm_setAutomine', params: [true] })
    }
    const out: { err?: ContractRevertError; receipt?: TransactionReceipt }[] = []
    for (const h of hashes) {
      const receipt = await this.env.chain.public.getTransactionReceipt({ hash: h })
      if (receipt.status === 'success') { out.push({ receipt }); continue }
      const tr = (await prov.request({ method: 'debug_traceTransaction', params: [h, { disableStorage: true, disableMemory: true, disableStack: true }] })) as { returnValue?: string }
      const rv = tr.returnValue ? ((tr.returnValue.startsWith('0x') ? tr.returnValue : `0x${tr.returnValue}`) as Hex) : undefined
      const err = decodeWorkRevert(rv, 'together')
      assert.ok(err instanceof ContractRevertError, `undecodable revert in a shared block: ${err.message}`)
      out.push({ err })
    }
    return out
  }

  private settleTx(tx: Tx, o: { err?: ContractRevertError; receipt?: TransactionReceipt }) {
    const next = this.model.clone()
    let expected: ModelRevert | undefined
    try {
      tx.modelOp(next)
    } catch (e) {
      if (!(e instanceof ModelRevert)) throw e
      expected = e
    }
    const what = `${tx.fn}(${tx.args.map((x) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))).join(', ').slice(0, 300)})`
    if (expected) {
      assert.ok(o.err, `model expected ${expected.message} but the chain accepted ${what}`)
      assert.equal(o.err.errorName, expected.errorName, `wrong revert for ${what}: chain ${o.err.errorName}(${o.err.args.map(String).join(', ')}), model ${expected.message}`)
      assert.deepEqual(o.err.args.map(norm), expected.args.map(norm), `revert args of ${what}`)
      this.stats.reverts.set(expected.errorName, (this.stats.reverts.get(expected.errorName) ?? 0) + 1)
      return
    }
    assert.ok(!o.err, `chain reverted ${o.err?.errorName}(${o.err?.args.map(String).join(', ')}) but the model accepted ${what}`)
    this.model = next
    this.stats.ok.set(tx.fn, (this.stats.ok.get(tx.fn) ?? 0) + 1)
    this.checkLogs(o.receipt!, next.events, next.payouts)
    tx.onOk?.(o.receipt!)
  }

  private checkLogs(r: TransactionReceipt, expected: ModelEvent[], payouts: { to: Address; amount: bigint }[]) {
    const logs = r.logs.filter((l) => l.address.toLowerCase() === this.market.toLowerCase())
    const evs = parseEventLogs({ abi: C.WorkMarketAbi, logs }).filter((e) => e.eventName !== 'DealRecorded')
    assert.deepEqual(evs.map((e) => e.eventName), expected.map((e) => e.name), 'event names')
    evs.forEach((e, i) => {
      const args = e.args as Record<string, unknown>
      for (const [k, v] of Object.entries(expected[i]!.args)) assert.deepEqual(norm(args[k]), norm(v), `${e.eventName}.${k}`)
      if (e.eventName === 'BatchSettled' || e.eventName === 'BatchFaulted') {
        const key = `${args.jobId}|${args.batch}`
        assert.ok(!this.resolved.has(key), `W2: batch ${key} resolved twice`)
        this.resolved.add(key)
        if (e.eventName === 'BatchFaulted') this.stats.faults++
        else this.stats.settled++
      }
    })
    const out = transferLogs(r.logs, this.we.token).filter((t) => t.from.toLowerCase() === this.market.toLowerCase()).map((t) => ({ to: t.to.toLowerCase(), amount: t.value }))
    assert.deepEqual(out, payouts.map((p) => ({ to: p.to.toLowerCase(), amount: p.amount })), 'token transfers out of the market')
  }

  /** Chain == model for every balance, job and batch; W1, W4, W6 on chain values. */
  async check() {
    const { env, model } = this
    const holders = this.a.all.map((k) => this.addr(k))
    const [toks, mbal, credits] = await Promise.all([
      Promise.all(holders.map((h) => env.chain.public.readContract({ address: this.we.token, abi: C.SoukTokenAbi, functionName: 'balanceOf', args: [h] }))),
      env.chain.public.readContract({ address: this.we.token, abi: C.SoukTokenAbi, functionName: 'balanceOf', args: [this.market] }),
      Promise.all(holders.map((h) => wmRead<bigint>(env, this.market, 'balanceOf', [h]))),
    ])
    holders.forEach((h, i) => {
      assert.equal(toks[i], model.balanceOf(h), `token balance of ${h}`)
      assert.equal(credits[i], model.withdrawable(h), `withdrawable of ${h}`)
    })
    assert.equal(mbal, model.balanceOf(this.market), 'market token balance')
    let held = 0n
    for (const id of model.jobIds()) {
      const mj = model.job(id)!
      const v = await wmRead<Record<string, bigint> & { finalized: boolean }>(env, this.market, 'jobs', [id])
      const live = !mj.finalized
      const f = BigInt(mj.faults)
      assert.deepEqual(
        [v.finalized, v.nextUnit, v.batches, v.settled, v.faults, v.paidUnits, v.escrowLeft, v.stakeLeft, v.owedToClient],
        [mj.finalized, BigInt(mj.nextUnit), BigInt(mj.batches.length), BigInt(mj.settled), f, BigInt(mj.paidUnits),
          live ? BigInt(mj.units - mj.paidUnits) * mj.price : 0n, live ? mj.stake - f * mj.slash : 0n, live ? f * (mj.slash - mj.finderFee) : 0n],
        `job ${id}`,
      )
      held += v.escrowLeft! + v.stakeLeft! + v.owedToClient!
      assert.ok(f * mj.slash <= mj.stake, 'W4: slashes <= stake')
      let next = 0
      for (let b = 0; b < mj.batches.length; b++) {
        const mb = mj.batches[b]!
        const bv = await wmRead<{ state: number; first: bigint; count: bigint; windowEnd: bigint; openDemands: bigint; root: Hex }>(env, this.market, 'batchOf', [id, BigInt(b)])
        assert.deepEqual([bv.state, bv.first, bv.count, bv.windowEnd, bv.openDemands, bv.root.toLowerCase()], [mb.state, BigInt(mb.first), BigInt(mb.count), mb.windowEnd, BigInt(mb.openDemands), mb.root], `batch ${b} of ${id}`)
        assert.equal(Number(bv.first), next, 'W6: batches tile the units in order')
        next += Number(bv.count)
      }
      assert.equal(next, mj.nextUnit, 'W6')
    }
    assert.equal(mbal, held + credits.reduce((t, x) => t + x, 0n), 'W1: market balance == Σ held + Σ withdrawable')
  }

  // ------------------------------------------------------------ helpers
  private pick(i: number, live = true): JobInfo | undefined {
    if (this.jobs.length === 0) return undefined
    const ok = this.jobs.filter((j) => !live || !this.model.job(j.id)!.finalized)
    if (ok.length === 0 || i % 9 === 8) return this.jobs[i % this.jobs.length]
    return ok[Math.floor(i / 9) % ok.length]
  }
  private batchAt(j: JobInfo, off: number): number {
    const n = this.model.job(j.id)!.batches.length
    return Math.max(0, n - 1 - off)
  }
  /** Into batch b's window (its first block) if it is not open yet. */
  private async toWindow(j: JobInfo, b: number) {
    const mb = this.model.job(j.id)!.batches[b]
    if (mb && this.model.block + 1n <= mb.seedBlock) await this.execAt(mb.seedBlock + 1n)
  }
  private async leafOf(j: JobInfo, b: number, i: number) {
    const mb = this.model.job(j.id)!.batches[b]!
    const tb = j.batches[b]!
    const seed = await this.hashOf(mb.seedBlock)
    const k = Math.min(j.terms.checksPerBatch, mb.count)
    const unit = challengedUnit(seed, j.id, b, mb.first, mb.count, Math.min(i, k - 1))
    return { unit, leaf: tb.units[unit - tb.first]!, path: workPath(tb.tree, unit - tb.first) }
  }

  private async answerFor(j: JobInfo, kind: 'ok' | 'forged' | 'stranger'): Promise<void> {
    const S = this.a.stranger
    // The first open demand of the job, else batch 0 index 0.
        let b = 0, i = 0
        const mj = this.model.job(j.id)!
        outer: for (let x = 0; x < mj.batches.length; x++) for (let y = 0; y < 4; y++) if (this.model.demand(j.id, x, y).state === 1) { b = x; i = y; break outer }
        if (mj.batches[b]!.seedBlock > this.model.block) return this.exec({ t: 'mine', n: 1 })
        const k = Math.min(j.terms.checksPerBatch, mj.batches[b]!.count)
        if (i >= k) i = 0
        const { leaf, path } = await this.leafOf(j, b, i)
        const out = kind === 'forged' ? keccak256(toHex(`forged-out-${this.counter++}`)) : leaf.outputHash
        const key = kind === 'stranger' ? S : j.workerKey
        return this.step([{ key, fn: 'answer', args: [j.id, BigInt(b), BigInt(i), leaf.inputHash, out, path], modelOp: (m) => m.answer(this.addr(key), j.id, b, i, leaf.inputHash, out, path) }])
  }

  async exec(cmd: Cmd): Promise<void> {
    const { a } = this
    const S = a.stranger
    switch (cmd.t) {
      case 'open': {
        if (cmd.bad === 'reopen' && this.jobs.length > 0) {
          const old = this.jobs[cmd.units % this.jobs.length]!
          return this.step([{ key: old.clientKey, fn: 'openJob', args: openJobArgs(old.signed), modelOp: (m) => m.openJob(this.addr(old.clientKey), old.signed.deal, old.signed.serverSig, old.signed.buyerSig, old.terms) }])
        }
        const clientKey = a.clients[cmd.client]!, workerKey = a.workers[cmd.worker]!
        const slash = BigInt(Math.max(1, cmd.price * cmd.maxBatch)) * BigInt(cmd.slashX)
        const terms = workTermsFor(this.we, a.checkers.map((k) => this.addr(k)), {
          units: cmd.units, maxBatch: cmd.maxBatch, checksPerBatch: cmd.checks, quorum: cmd.quorum, pricePerUnit: BigInt(cmd.price),
          slash: cmd.bad === 'weak' && cmd.price > 0 ? BigInt(cmd.price * cmd.maxBatch - 1) : slash, stake: slash * BigInt(cmd.stakeX),
          profile: keccak256(toHex(`p-${this.runId}-${this.counter++}`)), disputeWindow: 12, responseWindow: 4, claimWithinBlocks: 300,
        })
        const signed = signedJob(this.we, workerKey, clientKey, terms, { forgeServer: cmd.bad === 'forge' ? S : undefined })
        let id: Hex | undefined
        const tx = (key: Hex): Tx => ({
          key, fn: 'openJob', args: openJobArgs(signed), modelOp: (m) => { id = m.openJob(this.addr(key), signed.deal, signed.serverSig, signed.buyerSig, terms) },
          onOk: () => this.jobs.push({ id: id!, terms, clientKey, workerKey, lazy: cmd.worker === 1, batches: [], signed }),
        })
        if (cmd.bad === 'frontRun') return this.step([tx(S), tx(clientKey)])
        return this.step([tx(cmd.bad === 'stranger' ? S : clientKey)])
      }
      case 'claim': {
        const j = this.pick(cmd.job)
        if (!j) return this.exec({ t: 'mine', n: 1 })
        const mj = this.model.job(j.id)!
        let first = mj.nextUnit
        let count = Math.min(cmd.count, Math.max(0, mj.units - first))
        if (cmd.kind === 'outOfRange') count = mj.units - first + 1
        if (cmd.kind === 'tooBig') count = mj.maxBatch + 1
        if (cmd.kind === 'replay' && j.batches.length > 0) { first = j.batches.at(-1)!.first; count = j.batches.at(-1)!.count }
        const wb = makeBatch(j.lazy ? `lazy-${j.id}` : 'honest', first, Math.max(1, Math.min(count, 2 ** 20)))
        let root = wb.tree.root
        if (cmd.kind === 'garbage') root = keccak256(toHex(`garbage-${this.counter++}`))
        if ((cmd.kind === 'sameRoot' || cmd.kind === 'replay') && j.batches.length > 0) root = j.batches.at(-1)!.tree.root
        const key = cmd.kind === 'stranger' ? S : j.workerKey
        return this.step([{
          key, fn: 'claimWork', args: [j.id, BigInt(first), BigInt(count), root], modelOp: (m) => m.claimWork(this.addr(key), j.id, first, count, root),
          onOk: () => j.batches.push(wb), // a garbage root keeps the honest tree: its proofs then fail
        }])
      }
      case 'fault': {
        const j = this.pick(cmd.job)
        if (!j || j.batches.length === 0) return this.exec({ t: 'mine', n: 1 })
        const b = this.batchAt(j, cmd.batchOff)
        if (cmd.toWindow) await this.toWindow(j, b)
        const mb = this.model.job(j.id)!.batches[b]!
        if (mb.seedBlock > this.model.block) {
          // The seed is not mined: the fault is too early whatever it carries.
          const args = [j.id, BigInt(b), 0n, `0x${'11'.repeat(32)}`, `0x${'22'.repeat(32)}`, [], []] as const
          return this.step([{ key: S, fn: 'fault', args, modelOp: (m) => m.fault(this.addr(S), j.id, b, 0, args[3], args[4], [], []) }])
        }
        const { unit, leaf, path: p0 } = await this.leafOf(j, b, cmd.index === 4 ? 0 : cmd.index)
        let path = p0
        const vd = { chainId: this.env.chain.chainId, verifyingContract: this.market }
        const signers = cmd.kind === 'clientSig' ? [j.clientKey] : a.checkers.slice(0, j.terms.quorum)
        const other = this.jobs.find((x) => x.id !== j.id)
        const sigJob = cmd.kind === 'otherJob' && other ? other.id : j.id
        let sigs = await Promise.all(signers.map((k) => signVerdict(k, vd, { jobId: sigJob, batch: b, unit, output: leaf.outputHash })))
        if (cmd.kind === 'noSigs') sigs = []
        if (cmd.kind === 'forgedPath' && path.length > 0) path = [keccak256(toHex(`forged-${this.counter++}`)), ...path.slice(1)]
        const index = cmd.index === 4 ? 4 : Math.min(cmd.index, Math.min(j.terms.checksPerBatch, mb.count) - 1)
        const finder = cmd.kind === 'clientSig' || cmd.kind === 'noSigs' ? j.clientKey : cmd.kind === 'verdict' ? a.checkers[0]! : S
        const tx = (key: Hex): Tx => ({ key, fn: 'fault', args: [j.id, BigInt(b), BigInt(index), leaf.inputHash, leaf.outputHash, path, sigs], modelOp: (m) => m.fault(this.addr(key), j.id, b, index, leaf.inputHash, leaf.outputHash, path, sigs) })
        if (cmd.kind === 'copyFirst') return this.step([tx(S), tx(a.checkers[1]!)])
        return this.step([tx(finder)])
      }
      case 'demand': {
        const j = this.pick(cmd.job)
        if (!j || j.batches.length === 0) return this.exec({ t: 'mine', n: 1 })
        const b = this.batchAt(j, cmd.batchOff)
        if (cmd.toWindow) await this.toWindow(j, b)
        const key = cmd.by === 'client' ? j.clientKey : cmd.by === 'checker' ? a.checkers[cmd.index % 2]! : S
        const mb = this.model.job(j.id)!.batches[b]!
        const i = cmd.index === 4 ? 4 : cmd.index % Math.min(j.terms.checksPerBatch, mb.count)
        await this.step([{ key, fn: 'demand', args: [j.id, BigInt(b), BigInt(i)], modelOp: (m) => m.demandUnit(this.addr(key), j.id, b, i) }])
        if (cmd.answer && this.model.demand(j.id, b, i).state === 1) return this.answerFor(j, 'ok')
        return
      }
      case 'answer': {
        const j = this.pick(cmd.job)
        if (!j || j.batches.length === 0) return this.exec({ t: 'mine', n: 1 })
        return this.answerFor(j, cmd.kind)
      }
      case 'faultMissing': {
        const j = this.pick(cmd.job)
        if (!j || j.batches.length === 0) return this.exec({ t: 'mine', n: 1 })
        let b = this.batchAt(j, 0), i = 0
        const mj = this.model.job(j.id)!
        outer: for (let x = 0; x < mj.batches.length; x++) for (let y = 0; y < 4; y++) if (this.model.demand(j.id, x, y).state === 1) { b = x; i = y; break outer }
        if (cmd.wait) { const d = this.model.demand(j.id, b, i); if (d.state === 1) await this.execAt(d.deadline + 1n) }
        return this.step([{ key: S, fn: 'faultMissing', args: [j.id, BigInt(b), BigInt(i)], modelOp: (m) => m.faultMissing(this.addr(S), j.id, b, i) }])
      }
      case 'settle': {
        const j = this.pick(cmd.job)
        if (!j) return this.exec({ t: 'mine', n: 1 })
        const mj = this.model.job(j.id)!
        const list = cmd.offs.map((o) => (o < 0 ? mj.batches.length + 3 : Math.max(0, mj.batches.length - 1 - o)))
        if (cmd.wait && mj.batches.length > 0) await this.execAt(mj.batches.at(-1)!.windowEnd + 1n)
        const tx = (key: Hex): Tx => ({ key, fn: 'settle', args: [j.id, list.map(BigInt)], modelOp: (m) => m.settle(this.addr(key), j.id, list) })
        if (cmd.race && mj.batches.length > 0 && list.length > 0) {
          // A settle racing a fault of the same batch, the settler first.
          const b = list[0]!
          const mb = mj.batches[b]
          if (mb && mb.seedBlock <= this.model.block) {
            const { unit, leaf, path } = await this.leafOf(j, b, 0)
            const vd = { chainId: this.env.chain.chainId, verifyingContract: this.market }
            const sigs = await Promise.all(a.checkers.slice(0, j.terms.quorum).map((k) => signVerdict(k, vd, { jobId: j.id, batch: b, unit, output: leaf.outputHash })))
            return this.step([tx(S), { key: a.checkers[0]!, fn: 'fault', args: [j.id, BigInt(b), 0n, leaf.inputHash, leaf.outputHash, path, sigs], modelOp: (m) => m.fault(this.addr(a.checkers[0]!), j.id, b, 0, leaf.inputHash, leaf.outputHash, path, sigs) }])
          }
        }
        return this.step([tx(S)])
      }
      case 'finalize': {
        const j = this.pick(cmd.job)
        if (!j) return this.exec({ t: 'mine', n: 1 })
        if (cmd.wait) await this.execAt(this.model.job(j.id)!.claimDeadline + 1n)
        return this.step([{ key: S, fn: 'finalize', args: [j.id], modelOp: (m) => m.finalize(this.addr(S), j.id) }])
      }
      case 'recordSeed': {
        const j = this.pick(cmd.job, false)
        if (!j || j.batches.length === 0) return this.exec({ t: 'mine', n: 1 })
        const b = this.batchAt(j, cmd.batchOff)
        return this.step([{ key: S, fn: 'recordSeed', args: [j.id, BigInt(b)], modelOp: (m) => m.recordSeed(this.addr(S), j.id, b) }])
      }
      case 'withdraw': {
        const key = a.all[cmd.who % a.all.length]!
        return this.step([{ key, fn: 'withdraw', args: [], modelOp: (m) => m.withdraw(this.addr(key)) }])
      }
      case 'mine': {
        await this.mine(BigInt(cmd.n))
        return this.check()
      }
    }
  }
}

test(`adversarial property: WorkMarket matches its reference model and keeps W1, W2, W4, W6 over ${RUNS} runs × ${STEPS} random steps`, { timeout: NIGHTLY ? 3_600_000 : 300_000 }, async () => {
  const t0 = performance.now()
  const we = await setupWork({ accounts: 8, tokens: 1_000_000n })
  const keys = we.env.keys
  const a: Actors = { clients: [keys[1]!, keys[2]!], workers: [keys[3]!, keys[4]!], checkers: [keys[5]!, keys[6]!], stranger: keys[7]!, all: keys.slice(1, 8) as Hex[] }
  const base = new WorkModel({ chainId: we.env.chain.chainId, market: we.market, token: we.token, blockHash: () => { throw new Error('unset') } })
  for (const k of a.all) base.mint(we.env.addr(k), 1_000_000n)
  let snap = await we.env.chain.dev!.snapshot()
  let runId = 0
  const ok = new Map<string, number>(), reverts = new Map<string, number>()
  let faults = 0, settled = 0
  await fc.assert(
    fc.asyncProperty(fc.array(cmdArb, { minLength: STEPS, maxLength: STEPS }), async (cmds) => {
      await we.env.chain.dev!.revert(snap)
      snap = await we.env.chain.dev!.snapshot()
      const run = new Run(we, a, base, ++runId)
      run.model.block = await we.env.chain.blockNumber()
      // Every run starts with a job of each worker, so the sequences reach claims and faults.
      await run.exec({ t: 'open', client: 0, worker: 0, units: 30, maxBatch: 8, checks: 3, quorum: 1, price: 2, slashX: 2, stakeX: 4, bad: 'none' })
      await run.exec({ t: 'open', client: 1, worker: 1, units: 30, maxBatch: 8, checks: 2, quorum: 2, price: 1, slashX: 1, stakeX: 3, bad: 'none' })
      // ...and faults with too few signatures and with a forged path on the quorum-2 job, so QuorumNotMet and BadProof
      // do not depend on the draws (block hashes move with the chain's wall-clock timestamps).
      await run.exec({ t: 'claim', job: 1, count: 4, kind: 'ok' } as never)
      await run.exec({ t: 'fault', job: 1, batchOff: 0, index: 0, kind: 'noSigs', toWindow: true })
      await run.exec({ t: 'fault', job: 1, batchOff: 0, index: 0, kind: 'forgedPath', toWindow: true })
      for (const cmd of cmds) await run.exec(cmd)
      await run.check()
      faults += run.stats.faults
      settled += run.stats.settled
      for (const [k, v] of run.stats.ok) ok.set(k, (ok.get(k) ?? 0) + v)
      for (const [k, v] of run.stats.reverts) reverts.set(k, (reverts.get(k) ?? 0) + v)
    }),
    { numRuns: RUNS, seed: process.env.SOUK_FC_SEED ? Number(process.env.SOUK_FC_SEED) : undefined, endOnFailure: true },
  )
  console.log(`work invariants: ${RUNS} runs in ${((performance.now() - t0) / 1000).toFixed(1)}s; ${faults} faults, ${settled} settled; ok ${JSON.stringify(Object.fromEntries([...ok].sort()))}; reverts ${JSON.stringify(Object.fromEntries([...reverts].sort()))}`)
  // The generator must reach the interesting paths.
  for (const fn of ['openJob', 'claimWork', 'fault', 'demand', 'answer', 'settle', 'finalize', 'withdraw']) assert.ok((ok.get(fn) ?? 0) > 0, `no successful ${fn}`)
  for (const name of ['WorkMarketUnitsOutOfOrder', 'WorkMarketUnitsOutOfRange', 'WorkMarketRootAlreadyPosted', 'WorkMarketNotWorker', 'WorkMarketBatchResolved', 'WorkMarketBadProof', 'WorkMarketQuorumNotMet', 'WorkMarketNotChecker', 'WorkMarketNothingSettled', 'MarketDealsBadSignature']) {
    assert.ok((reverts.get(name) ?? 0) > 0, `no step hit ${name}`)
  }
  await we.env.chain.close()
})

void BATCH
