/**
 * Property test of StorageMarket: fast-check drives random call sequences from two clients, two providers, a
 * self-dealer (client and provider of its own deals) and a stranger through the embedded EVM and, after EVERY step,
 * compares the chain with the reference model (storage-model.ts):
 *  - the call reverts iff the model says so, with the same custom error name; a successful one emits exactly the
 *    model's events (names and arguments) and moves exactly the model's tokens out of the market;
 *  - every token balance, every withdrawable balance, every deal (state, start, next, proven, faulted, end period,
 *    escrow left, collateral left) and the state of each of its periods equals the model;
 *  - S1 on chain values alone: market token balance == Σ escrowLeft + Σ collateralLeft + Σ withdrawable;
 *  - S2: per deal, Σ PeriodProven.paid == pricePerPeriod × proven, and only periods with a PeriodProven event paid;
 *  - S3: per deal, collateral == collateralLeft + Σ slashed + forfeited + returned, slashes and forfeits credited to
 *    the client only (the withdrawable balances match the model, which credits them so);
 *  - S4: no (deal, period) is proven or faulted twice (events over the whole run); proven + faulted <= periods.
 * Actors: an honest provider proving in its windows; a provider that lost a fraction of its data (its proof of a
 * challenged lost leaf fails, or it skips the period); replays of old proofs, proofs of another deal or period, forged
 * paths; a stranger faulting early, proving for others, front-running `openDeal` with someone's signed deal and
 * activating; a client faulting a proven period; a self-dealer. Trees are real (src/proofs/storage) over a few hundred
 * leaves and 1-3 replicas. Runs reset the chain with evm snapshots. SOUK_TEST_SCALE=nightly runs 10x the sequences.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { encodeFunctionData, keccak256, parseEventLogs, toHex, type Abi, type Address, type Hex, type TransactionReceipt } from 'viem'
import * as C from '../../artifacts/contracts.js'
import { ChainError, ContractRevertError } from '../../src/chain/index.js'
import { proofTuple, type StorageTermsArg } from '../../src/services/storage/contract.js'
import { TX_GAS, transferLogs } from './helpers.js'
import {
  DEAL_STATE, ModelRevert, StorageModel, decodeStorageRevert, honestProof, makeDataset, openArgs, setupStorage, signedStorageDeal, smRead, smSend, termsFor,
  type Dataset, type ModelEvent, type ModelProof, type StorageEnv,
} from './storage-model.js'

const NIGHTLY = process.env.SOUK_TEST_SCALE === 'nightly'
const RUNS = NIGHTLY ? 100 : 10
const STEPS = 100

// ------------------------------------------------------------------ commands
type ProofKind = 'honest' | 'lossy' | 'replay' | 'wrongDeal' | 'wrongPeriod' | 'forged'
type Cmd =
  | { t: 'open'; client: number; provider: number; ds: number; periods: number; periodBlocks: number; window: number; challenges: number; price: number; collateral: number; activateWithin: number; activateNow: boolean; bad: 'none' | 'serverSig' | 'buyerSig' | 'frontRun' | 'stranger' | 'noCollateral' | 'reopen'; lossPct: number }
  | { t: 'activate'; deal: number; by: 'provider' | 'stranger' | 'client' }
  | { t: 'prove'; entries: { deal: number; kind: ProofKind; periodOff: number }[]; by: 'provider' | 'stranger' | 'other'; toWindow: boolean }
  | { t: 'toWindow'; deal: number; late: boolean }
  | { t: 'fault'; deal: number; periodOff: number; by: number }
  | { t: 'terminate'; deal: number; by: 'client' | 'provider' | 'stranger' }
  | { t: 'finalize'; deal: number; by: number; toEnd: boolean }
  | { t: 'cancel'; deal: number; by: 'client' | 'stranger'; wait: boolean }
  | { t: 'recordSeed'; deal: number; periodOff: number }
  | { t: 'withdraw'; who: number }
  | { t: 'mine'; n: number }

const dealIdx = fc.integer({ min: 0, max: 1000 })
const kind = fc.constantFrom<ProofKind>('honest', 'honest', 'honest', 'honest', 'lossy', 'replay', 'wrongDeal', 'wrongPeriod', 'forged')
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('open' as const), client: fc.integer({ min: 0, max: 2 }), provider: fc.integer({ min: 0, max: 1 }), ds: fc.nat(), periods: fc.integer({ min: 1, max: 4 }),
      periodBlocks: fc.integer({ min: 6, max: 16 }), window: fc.integer({ min: 1, max: 16 }), challenges: fc.integer({ min: 1, max: 8 }), price: fc.integer({ min: 0, max: 50 }),
      collateral: fc.integer({ min: 1, max: 200 }), activateWithin: fc.integer({ min: 1, max: 8 }), activateNow: fc.integer({ min: 0, max: 3 }).map((x) => x > 0),
      bad: fc.constantFrom('none', 'none', 'none', 'none', 'none', 'none', 'serverSig', 'buyerSig', 'frontRun', 'stranger', 'noCollateral', 'reopen'),
      lossPct: fc.constantFrom(0, 0, 0, 5, 30),
    }),
  },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('activate' as const), deal: dealIdx, by: fc.constantFrom<'provider' | 'stranger' | 'client'>('provider', 'provider', 'provider', 'provider', 'stranger', 'client') }) },
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant('prove' as const), entries: fc.array(fc.record({ deal: dealIdx, kind, periodOff: fc.constantFrom(0, 0, 0, 0, -1, 1, 5) }), { minLength: 1, maxLength: 4 }),
      by: fc.constantFrom<'provider' | 'stranger' | 'other'>('provider', 'provider', 'provider', 'provider', 'provider', 'stranger', 'other'),
      toWindow: fc.integer({ min: 0, max: 2 }).map((x) => x > 0),
    }),
  },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('toWindow' as const), deal: dealIdx, late: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('fault' as const), deal: dealIdx, periodOff: fc.constantFrom(0, 0, -1, -2, 1), by: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('terminate' as const), deal: dealIdx, by: fc.constantFrom<'client' | 'provider' | 'stranger'>('client', 'provider', 'stranger') }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('finalize' as const), deal: dealIdx, by: fc.integer({ min: 0, max: 5 }), toEnd: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('cancel' as const), deal: dealIdx, by: fc.constantFrom<'client' | 'stranger'>('client', 'client', 'stranger'), wait: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('recordSeed' as const), deal: dealIdx, periodOff: fc.constantFrom(0, -1, 1) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('withdraw' as const), who: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('mine' as const), n: fc.integer({ min: 1, max: 12 }) }) },
)

// ------------------------------------------------------------------ harness
interface Actors { clients: Hex[]; providers: Hex[]; self: Hex; stranger: Hex; all: Hex[] }
interface DealInfo { id: Hex; ds: Dataset; terms: StorageTermsArg; clientKey: Hex; providerKey: Hex; lossPct: number; signed: ReturnType<typeof signedStorageDeal> }
interface Tx { key: Hex; fn: string; args: readonly unknown[]; modelOp: (m: StorageModel) => unknown; onOk?: (r: TransactionReceipt) => void }

const M_ABI = C.StorageMarketAbi as unknown as Abi
const norm = (v: unknown): unknown => (typeof v === 'number' ? BigInt(v) : typeof v === 'string' ? v.toLowerCase() : v)

class Run {
  model: StorageModel
  readonly deals: DealInfo[] = []
  readonly submitted: ModelProof[] = []
  readonly hashes = new Map<bigint, Hex>()
  readonly resolved = new Set<string>()
  readonly paidBy = new Map<Hex, bigint>()
  readonly collateralOut = new Map<Hex, bigint>()
  readonly stats = { steps: 0, ok: new Map<string, number>(), reverts: new Map<string, number>(), skips: new Map<number, number>(), proven: 0, faulted: new Map<number, number>(), frontRuns: 0 }
  private counter = 0

  constructor(readonly se: StorageEnv, readonly a: Actors, base: StorageModel, readonly datasets: Dataset[], readonly runId: number) {
    this.model = base.clone()
    this.model.p.blockHash = (n) => {
      const h = this.hashes.get(n)
      if (!h) throw new Error(`harness: block hash ${n} not fetched`)
      return h
    }
  }

  get env() { return this.se.env }
  get market() { return this.se.market }
  addr(k: Hex) { return this.env.addr(k) }

  private async hashOf(n: bigint): Promise<Hex | undefined> {
    if (n < 0n || n > this.model.block) return undefined
    let h = this.hashes.get(n)
    if (!h) {
      h = ((await this.env.chain.provider.request({ method: 'eth_getBlockByNumber', params: [toHex(n), false] })) as { hash: Hex }).hash
      this.hashes.set(n, h)
    }
    return h
  }

  /** Sends `txs` (in one block when several: the first front-run the later) and checks each against the model. */
  async step(txs: Tx[]) {
    this.stats.steps++
    const outcomes: { err?: ContractRevertError; receipt?: TransactionReceipt }[] = []
    if (txs.length === 1) {
      try {
        outcomes.push({ receipt: await smSend(this.env, txs[0]!.key, this.market, txs[0]!.fn, txs[0]!.args) })
      } catch (e) {
        if (!(e instanceof ContractRevertError)) throw e
        outcomes.push({ err: e })
      }
    } else outcomes.push(...(await this.together(txs)))
    for (let i = 0; i < txs.length; i++) this.settle(txs[i]!, outcomes[i]!)
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
      const err = decodeStorageRevert(rv, 'together')
      assert.ok(err instanceof ContractRevertError, `undecodable revert in a shared block: ${err.message}`)
      out.push({ err })
    }
    return out
  }

  private settle(tx: Tx, o: { err?: ContractRevertError; receipt?: TransactionReceipt }) {
    const next = this.model.clone()
    let expected: ModelRevert | undefined
    try {
      tx.modelOp(next)
    } catch (e) {
      if (!(e instanceof ModelRevert)) throw e
      expected = e
    }
    const what = `${tx.fn}(${tx.args.map((x) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `${v.length}B` : v))).join(', ').slice(0, 400)})`
    if (expected) {
      assert.ok(o.err, `model expected ${expected.message} but the chain accepted ${what}`)
      assert.equal(o.err.errorName, expected.errorName, `wrong revert for ${what}: chain ${o.err.errorName}(${o.err.args.map(String).join(', ')}), model ${expected.message}`)
      if (expected.errorName === 'StorageMarketNothingProven' || expected.errorName === 'StorageMarketBadTerms' || expected.errorName === 'StorageMarketTermsMismatch') {
        assert.deepEqual(o.err.args.map(norm).slice(-1), expected.args.map(norm).slice(-1), `revert args of ${what}`)
      }
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
    const evs = parseEventLogs({ abi: C.StorageMarketAbi, logs })
    assert.deepEqual(evs.map((e) => e.eventName), expected.map((e) => e.name), 'event names')
    evs.forEach((e, i) => {
      const args = e.args as Record<string, unknown>
      for (const [k, v] of Object.entries(expected[i]!.args)) assert.deepEqual(norm(args[k]), norm(v), `${e.eventName}.${k}`)
      const id = args.dealId as Hex
      if (e.eventName === 'PeriodProven' || e.eventName === 'PeriodFaulted') {
        const key = `${id}|${args.period}`
        assert.ok(!this.resolved.has(key), `S4: period ${key} resolved twice`)
        this.resolved.add(key)
      }
      if (e.eventName === 'PeriodProven') { this.paidBy.set(id, (this.paidBy.get(id) ?? 0n) + (args.paid as bigint)); this.stats.proven++ }
      if (e.eventName === 'PeriodFaulted') {
        this.collateralOut.set(id, (this.collateralOut.get(id) ?? 0n) + (args.slashed as bigint))
        this.stats.faulted.set(Number(args.reason), (this.stats.faulted.get(Number(args.reason)) ?? 0) + 1)
      }
      if (e.eventName === 'DealTerminated') this.collateralOut.set(id, (this.collateralOut.get(id) ?? 0n) + (args.forfeited as bigint))
      if (e.eventName === 'DealFinalized') this.collateralOut.set(id, (this.collateralOut.get(id) ?? 0n) + (args.collateralReturned as bigint))
      if (e.eventName === 'ProofSkipped') this.stats.skips.set(Number(args.reason), (this.stats.skips.get(Number(args.reason)) ?? 0) + 1)
    })
    const out = transferLogs(r.logs, this.se.token).filter((t) => t.from.toLowerCase() === this.market.toLowerCase()).map((t) => ({ to: t.to.toLowerCase(), amount: t.value }))
    assert.deepEqual(out, payouts.map((p) => ({ to: p.to.toLowerCase(), amount: p.amount })), 'token transfers out of the market')
  }

  /** Chain == model for every balance, deal and period; S1..S4 on chain values. */
  async check() {
    const { env, model } = this
    const holders = this.a.all.map((k) => this.addr(k))
    const ids = model.dealIds()
    const at = model.block
    const [toks, mbal, credits, views, periods] = await Promise.all([
      Promise.all(holders.map((h) => env.chain.public.readContract({ address: this.se.token, abi: C.SoukTokenAbi, functionName: 'balanceOf', args: [h] }))),
      env.chain.public.readContract({ address: this.se.token, abi: C.SoukTokenAbi, functionName: 'balanceOf', args: [this.market] }),
      Promise.all(holders.map((h) => smRead<bigint>(env, this.market, 'balanceOf', [h]))),
      Promise.all(ids.map((id) => smRead<{ state: number; client: Address; provider: Address; openBlock: bigint; start: bigint; periods: bigint; endPeriod: bigint; next: bigint; proven: bigint; faulted: bigint; escrowLeft: bigint; collateralLeft: bigint }>(env, this.market, 'deals', [id]))),
      Promise.all(ids.map((id) => Promise.all(Array.from({ length: model.deal(id)!.periods + 1 }, (_, t) => smRead<number>(env, this.market, 'periodState', [id, BigInt(t)]))))),
    ])
    holders.forEach((h, i) => {
      assert.equal(toks[i], model.balanceOf(h), `token balance of ${h}`)
      assert.equal(credits[i], model.withdrawable(h), `withdrawable of ${h}`)
    })
    assert.equal(mbal, model.balanceOf(this.market), 'market token balance (model)')
    let owed = 0n
    ids.forEach((id, i) => {
      const v = views[i]!, d = model.deal(id)!
      assert.deepEqual(
        [v.state, v.client.toLowerCase(), v.provider.toLowerCase(), v.openBlock, v.start, Number(v.periods), Number(v.endPeriod), Number(v.next), Number(v.proven), Number(v.faulted), v.escrowLeft, v.collateralLeft],
        [d.state, d.client, d.provider, d.openBlock, d.start, d.periods, d.endPeriod, d.next, d.proven, d.faulted, d.escrowLeft, d.collateralLeft],
        `deal ${id}`,
      )
      periods[i]!.forEach((s, t) => assert.equal(Number(s), model.periodState(id, t, at), `period ${t} of ${id}`))
      owed += v.escrowLeft + v.collateralLeft
      // S2: the provider was paid from escrow exactly for the proven periods.
      assert.equal(this.paidBy.get(id) ?? 0n, d.pricePerPeriod * v.proven, `S2 deal ${id}`)
      // S3/S4: collateral accounted for once; periods resolved at most once.
      if (v.start !== 0n) assert.equal(d.collateral, v.collateralLeft + (this.collateralOut.get(id) ?? 0n), `S3 collateral of ${id}`)
      assert.ok(Number(v.proven) + Number(v.faulted) <= d.periods, 'S4')
    })
    // S1 on chain values alone (every withdrawable balance belongs to an actor).
    assert.equal(mbal, owed + credits.reduce((t, x) => t + x, 0n), 'S1: market balance == Σ escrow + Σ collateral + Σ withdrawable')
  }

  // ------------------------------------------------------------ helpers
  /** Mostly a deal in one of `states` (the ones the command makes sense for), sometimes any deal. */
  private pick(i: number, states: number[] = [DEAL_STATE.Active], running = false): DealInfo | undefined {
    if (this.deals.length === 0) return undefined
    const live = this.deals.filter((d) => {
      const m = this.model.deal(d.id)!
      return states.includes(m.state) && (!running || this.model.block < m.start + BigInt(m.endPeriod) * m.periodBlocks)
    })
    if (live.length === 0 || i % 7 === 6) return this.deals[i % this.deals.length]
    return live[Math.floor(i / 7) % live.length]
  }
  private dealIdAt(i: number, d: DealInfo | undefined): Hex {
    if (i % 23 === 22 || !d) return keccak256(toHex(`unknown-${i}`))
    return d.id
  }
  private curPeriod(d: DealInfo): number {
    const m = this.model.deal(d.id)!
    if (m.start === 0n) return 0
    return this.model.currentPeriod(d.id)
  }

  private async proofFor(d: DealInfo, t: number, k: ProofKind): Promise<ModelProof> {
    const m = this.model.deal(d.id)!
    const dummy = { dealId: d.id, period: t, leaves: new Uint8Array(32), siblings: new Uint8Array(20) }
    if (m.start === 0n || t < 0 || t >= m.periods) return { ...dummy, period: Math.max(0, t) }
    const sb = this.model.seedBlock(m, t)
    const seed = await this.hashOf(sb)
    if (!seed) return dummy
    const p = honestProof(d.ds, seed, d.id, t, d.terms.challenges)
    const honest = { dealId: d.id, period: t, leaves: p.leaves, siblings: p.siblings }
    switch (k) {
      case 'honest':
        return d.lossPct > 0 ? this.lossy(d, honest, p.positions) : honest
      case 'lossy':
        return this.lossy({ ...d, lossPct: Math.max(d.lossPct, 30) }, honest, p.positions)
      case 'forged': {
        const s = honest.siblings.slice()
        if (s.length > 0) s[(t * 7) % s.length]! ^= 0x40
        else { const l = honest.leaves.slice(); l[0]! ^= 1; return { ...honest, leaves: l } }
        return { ...honest, siblings: s }
      }
      case 'replay': {
        const old = this.submitted[(t + this.counter++) % Math.max(1, this.submitted.length)]
        return old ? { ...old } : honest
      }
      case 'wrongDeal': {
        const other = this.deals.find((x) => x.id !== d.id && this.model.deal(x.id)!.start !== 0n)
        if (!other) return honest
        const om = this.model.deal(other.id)!
        const ot = Math.min(om.periods - 1, this.model.currentPeriod(other.id))
        const oseed = await this.hashOf(this.model.seedBlock(om, ot))
        if (!oseed) return honest
        const op = honestProof(other.ds, oseed, other.id, ot, other.terms.challenges)
        return { dealId: d.id, period: t, leaves: op.leaves, siblings: op.siblings }
      }
      case 'wrongPeriod': {
        if (t === 0) return honest
        const pseed = await this.hashOf(this.model.seedBlock(m, t - 1))
        if (!pseed) return honest
        const pp = honestProof(d.ds, pseed, d.id, t - 1, d.terms.challenges)
        return { dealId: d.id, period: t, leaves: pp.leaves, siblings: pp.siblings }
      }
    }
  }

  /** The proof of a provider that lost `lossPct` % of the deal's leaves: a challenged lost leaf is sent as zeros. */
  private lossy(d: DealInfo, pr: ModelProof, positions: number[]): ModelProof {
    const sorted = [...new Set(positions)].sort((x, y) => x - y)
    const leaves = pr.leaves.slice()
    sorted.forEach((p, i) => { if (Number(BigInt(keccak256(toHex(`${d.id}:${p}`))) % 100n) < d.lossPct) leaves.fill(0, i * 32, (i + 1) * 32) })
    return { ...pr, leaves }
  }

  /**
   * Every run opens with an honest deal whose provider lets period 0 pass unproven and a client's `fault` of it: a
   * successful fault no longer depends on the random draws (seeds follow block hashes, which move with wall-clock
   * timestamps; one full run drew none). Each step is still checked against the model.
   */
  async prelude(): Promise<void> {
    const before = this.stats.ok.get('fault') ?? 0
    await this.exec({ t: 'open', client: 0, provider: 0, ds: 0, periods: 3, periodBlocks: 8, window: 4, challenges: 2, price: 10, collateral: 50, activateWithin: 8, activateNow: true, bad: 'none', lossPct: 0 })
    await this.exec({ t: 'mine', n: 10 })
    await this.exec({ t: 'fault', deal: 0, periodOff: -1, by: 0 })
    assert.equal(this.stats.ok.get('fault') ?? 0, before + 1, 'prelude: the missed period 0 was not faulted')
  }

  // ------------------------------------------------------------ dispatch
  async exec(cmd: Cmd): Promise<void> {
    const { a } = this
    const S = this.a.stranger
    switch (cmd.t) {
      case 'open': {
        const self = cmd.client === 2
        const clientKey = self ? a.self : a.clients[cmd.client]!
        const providerKey = self ? a.self : a.providers[cmd.provider]!
        const ds = this.datasets[cmd.ds % this.datasets.length]!
        if (cmd.bad === 'reopen' && this.deals.length > 0) {
          const old = this.deals[cmd.ds % this.deals.length]!
          return this.step([{ key: old.clientKey, fn: 'openDeal', args: openArgs(old.signed), modelOp: (m) => m.openDeal(this.addr(old.clientKey), old.signed.deal, old.signed.serverSig, old.signed.buyerSig, old.terms) }])
        }
        const terms = termsFor(ds, {
          periods: cmd.periods, periodBlocks: cmd.periodBlocks, windowBlocks: cmd.window, challenges: cmd.challenges, pricePerPeriod: BigInt(cmd.price),
          collateral: cmd.bad === 'noCollateral' ? 0n : BigInt(cmd.collateral), activateWithinBlocks: cmd.activateWithin,
        })
        const offer = keccak256(toHex(`offer-${this.runId}-${this.counter++}`))
        const signed = signedStorageDeal(this.se, providerKey, clientKey, terms, {
          offer, forgeServer: cmd.bad === 'serverSig' ? S : undefined, forgeBuyer: cmd.bad === 'buyerSig' ? S : undefined,
        })
        const info = { ds, terms, clientKey, providerKey, lossPct: cmd.lossPct, signed }
        let id: Hex | undefined
        const tx = (key: Hex): Tx => ({ key, fn: 'openDeal', args: openArgs(signed), modelOp: (m) => { id = m.openDeal(this.addr(key), signed.deal, signed.serverSig, signed.buyerSig, terms) }, onOk: () => this.deals.push({ ...info, id: id! }) })
        if (cmd.bad === 'frontRun') { this.stats.frontRuns++; await this.step([tx(S), tx(clientKey)]) }
        else await this.step([tx(cmd.bad === 'stranger' ? S : clientKey)])
        const opened = this.deals.at(-1)
        if (cmd.activateNow && opened && opened.signed === signed) {
          await this.step([{ key: providerKey, fn: 'activate', args: [opened.id], modelOp: (m) => m.activate(this.addr(providerKey), opened.id) }])
        }
        return
      }
      case 'activate': {
        const d = this.pick(cmd.deal, [DEAL_STATE.Opened])
        const id = this.dealIdAt(cmd.deal, d)
        const key = !d ? S : cmd.by === 'provider' ? d.providerKey : cmd.by === 'client' ? d.clientKey : S
        return this.step([{ key, fn: 'activate', args: [id], modelOp: (m) => m.activate(this.addr(key), id) }])
      }
      case 'toWindow': {
        // Mine into the window of the deal's next unresolved period (its start, or its last block when `late`).
        const d = this.pick(cmd.deal, [DEAL_STATE.Active], true)
        const m = d && this.model.deal(d.id)
        this.stats.steps++
        if (m && m.start !== 0n && m.next < m.endPeriod) {
          const end = this.model.periodEnd(m, Math.max(m.next, this.curPeriod(d)))
          const target = cmd.late ? end : end - m.windowBlocks + 1n
          const k = target - 1n - this.model.block
          if (k > 0n) await this.env.chain.dev!.mine(Number(k))
        } else await this.env.chain.dev!.mine(1)
        this.model.block = await this.env.chain.blockNumber()
        return this.check()
      }
      case 'prove': {
        if (cmd.toWindow) await this.exec({ t: 'toWindow', deal: cmd.entries[0]!.deal, late: cmd.entries[0]!.periodOff === 5 })
        const entries: ModelProof[] = []
        let owner: DealInfo | undefined
        for (const e of cmd.entries) {
          const d = this.pick(e.deal, [DEAL_STATE.Active], true)
          if (!d) { entries.push({ dealId: this.dealIdAt(e.deal, d), period: 0, leaves: new Uint8Array(32), siblings: new Uint8Array(0) }); continue }
          owner ??= d
          const t = Math.max(0, this.curPeriod(d) + e.periodOff)
          const pr = await this.proofFor(d, t, e.kind)
          entries.push(e.deal % 23 === 22 ? { ...pr, dealId: keccak256(toHex(`unknown-${e.deal}`)) } : pr)
        }
        const provKey = owner?.providerKey ?? a.providers[0]!
        const key = cmd.by === 'provider' ? provKey : cmd.by === 'stranger' ? S : a.providers.find((k) => k !== provKey) ?? S
        // The model needs the seeds of the periods in their windows: fetch every seed block already mined.
        for (const pr of entries) { const sb = this.model.seedBlockOf(pr.dealId, pr.period); if (sb !== undefined) await this.hashOf(sb) }
        return this.step([{
          key, fn: 'prove', args: [entries.map(proofTuple)], modelOp: (m) => m.prove(this.addr(key), entries),
          onOk: () => { this.submitted.push(...entries) },
        }])
      }
      case 'fault': {
        const d = this.pick(cmd.deal)
        const id = this.dealIdAt(cmd.deal, d)
        const t = d ? Math.max(0, this.curPeriod(d) + cmd.periodOff) : 0
        const key = a.all[cmd.by % a.all.length]!
        return this.step([{ key, fn: 'fault', args: [id, BigInt(t)], modelOp: (m) => m.fault(this.addr(key), id, t) }])
      }
      case 'terminate': {
        const d = this.pick(cmd.deal)
        const id = this.dealIdAt(cmd.deal, d)
        const key = !d ? S : cmd.by === 'client' ? d.clientKey : cmd.by === 'provider' ? d.providerKey : S
        return this.step([{ key, fn: 'terminate', args: [id], modelOp: (m) => m.terminate(this.addr(key), id) }])
      }
      case 'finalize': {
        const d = this.pick(cmd.deal)
        const id = this.dealIdAt(cmd.deal, d)
        const m = d && this.model.deal(d.id)
        if (cmd.toEnd && m && m.start !== 0n) {
          const k = m.start + BigInt(m.endPeriod) * m.periodBlocks - this.model.block
          if (k > 0n) await this.env.chain.dev!.mine(Number(k))
          this.model.block = await this.env.chain.blockNumber()
        }
        const key = a.all[cmd.by % a.all.length]!
        return this.step([{ key, fn: 'finalize', args: [id], modelOp: (mm) => mm.finalize(this.addr(key), id) }])
      }
      case 'cancel': {
        const d = this.pick(cmd.deal, [DEAL_STATE.Opened])
        const id = this.dealIdAt(cmd.deal, d)
        const m = d && this.model.deal(d.id)
        if (cmd.wait && m) {
          const k = m.openBlock + m.activateWithinBlocks - this.model.block
          if (k > 0n) await this.env.chain.dev!.mine(Number(k))
          this.model.block = await this.env.chain.blockNumber()
        }
        const key = !d ? S : cmd.by === 'client' ? d.clientKey : S
        return this.step([{ key, fn: 'cancel', args: [id], modelOp: (mm) => mm.cancel(this.addr(key), id) }])
      }
      case 'recordSeed': {
        const d = this.pick(cmd.deal)
        const id = this.dealIdAt(cmd.deal, d)
        const t = d ? Math.max(0, this.curPeriod(d) + cmd.periodOff) : 0
        const sb = this.model.seedBlockOf(id, t)
        if (sb !== undefined) await this.hashOf(sb)
        return this.step([{ key: S, fn: 'recordSeed', args: [id, BigInt(t)], modelOp: (m) => m.recordSeed(this.addr(S), id, t) }])
      }
      case 'withdraw': {
        const key = a.all[cmd.who % a.all.length]!
        return this.step([{ key, fn: 'withdraw', args: [], modelOp: (m) => m.withdraw(this.addr(key)) }])
      }
      case 'mine': {
        this.stats.steps++
        await this.env.chain.dev!.mine(cmd.n)
        this.model.block = await this.env.chain.blockNumber()
        return this.check()
      }
    }
  }
}

test(`adversarial property: StorageMarket matches its reference model and keeps S1-S4 over ${RUNS} runs × ${STEPS} random steps`, { timeout: NIGHTLY ? 3_600_000 : 300_000 }, async () => {
  const t0 = performance.now()
  const se = await setupStorage({ accounts: 7, tokens: 1_000_000n })
  const keys = se.env.keys
  const a: Actors = { clients: [keys[1]!, keys[2]!], providers: [keys[3]!, keys[4]!], self: keys[5]!, stranger: keys[6]!, all: keys.slice(1, 7) as Hex[] }
  const base = new StorageModel({ chainId: se.env.chain.chainId, market: se.market, token: se.token, blockHash: () => { throw new Error('unset') } })
  for (const k of a.all) base.mint(se.env.addr(k), 1_000_000n)
  base.block = await se.env.chain.blockNumber()
  // A few datasets: 100-400 leaves a replica, 1-3 replicas (real trees; each deal's salt is the dataset's).
  const datasets = [makeDataset('inv-a', 100, 1), makeDataset('inv-b', 257, 2), makeDataset('inv-c', 400, 3), makeDataset('inv-d', 150, 2), makeDataset('inv-e', 1, 1)]
  let snap = await se.env.chain.dev!.snapshot()
  let runId = 0
  const total = { steps: 0, proven: 0, frontRuns: 0 }
  const ok = new Map<string, number>(), reverts = new Map<string, number>(), skips = new Map<number, number>(), faulted = new Map<number, number>()
  await fc.assert(
    fc.asyncProperty(fc.array(cmdArb, { minLength: STEPS, maxLength: STEPS }), async (cmds) => {
      await se.env.chain.dev!.revert(snap)
      snap = await se.env.chain.dev!.snapshot()
      const run = new Run(se, a, base, datasets, ++runId)
      run.model.block = await se.env.chain.blockNumber()
      await run.prelude()
      for (const cmd of cmds) await run.exec(cmd)
      await run.check()
      total.steps += run.stats.steps
      total.proven += run.stats.proven
      total.frontRuns += run.stats.frontRuns
      for (const [k, v] of run.stats.ok) ok.set(k, (ok.get(k) ?? 0) + v)
      for (const [k, v] of run.stats.reverts) reverts.set(k, (reverts.get(k) ?? 0) + v)
      for (const [k, v] of run.stats.skips) skips.set(k, (skips.get(k) ?? 0) + v)
      for (const [k, v] of run.stats.faulted) faulted.set(k, (faulted.get(k) ?? 0) + v)
    }),
    { numRuns: RUNS, seed: process.env.SOUK_FC_SEED ? Number(process.env.SOUK_FC_SEED) : undefined, endOnFailure: true },
  )
  const secs = ((performance.now() - t0) / 1000).toFixed(1)
  console.log(`storage invariants: ${total.steps} steps in ${secs}s; ${total.proven} periods proven, faults by reason ${JSON.stringify(Object.fromEntries(faulted))}, skips by reason ${JSON.stringify(Object.fromEntries(skips))}, ${total.frontRuns} front-runs; ok ${JSON.stringify(Object.fromEntries([...ok].sort()))}; reverts ${JSON.stringify(Object.fromEntries([...reverts].sort()))}`)
  assert.ok(total.steps >= RUNS * STEPS)
  // The generator must reach the interesting paths.
  assert.ok(total.proven > 0, 'no period was ever proven')
  for (const r of [0, 1]) assert.ok((faulted.get(r) ?? 0) > 0, `no fault with reason ${r}`)
  for (const fn of ['openDeal', 'activate', 'prove', 'fault', 'finalize', 'withdraw']) assert.ok((ok.get(fn) ?? 0) > 0, `no successful ${fn}`)
  for (const name of ['StorageMarketNotClient', 'MarketDealsBadSignature', 'StorageMarketNothingProven', 'StorageMarketNotProvider']) assert.ok((reverts.get(name) ?? 0) > 0, `no step hit ${name}`)
  await se.env.chain.close()
})

void ChainError
