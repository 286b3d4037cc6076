/**
 * What the lottery payee keeps: the rands it issued (so winners under them stay redeemable after a crash) and the
 * winning tickets it accepted, each `pending` until settled as `redeemed`, `claim` or `lost` (with a reason).
 * Rows are scoped by (chain id, broker): one store may serve several deployments (and dev chains restart at nonce 0)
 * without mixing their tickets. A winner is unique by (chain id, broker, sender, nonce).
 *
 * `LotteryPayeeStore` is the interface; two implementations pass `store.compliance.ts`:
 * `openSqliteLotteryPayeeStore(path)` (durable: a batch written by `addWinners` survives a SIGKILL; files of
 * earlier releases are upgraded in place) and `createMemoryLotteryPayeeStore()` (plain Maps, same semantics).
 *
 * @example
 * ```ts
 * import { lotteryPayeeStore } from './store.js'
 * const store = lotteryPayeeStore('payee.sqlite') // or lotteryPayeeStore() for memory
 * const scope = { chainId: 31337, broker }
 * store.addWinners(scope, [{ sender, nonce, face, winProb, randHash, rand, expiration, sig, createdBlock }])
 * for (const w of store.pendingWinners(scope)) store.mark(w.id, 'redeemed', tx, null)
 * ```
 */
import type { Address, Hex } from 'viem'
import { openDatabase, type Db } from '../../core/db.js'
import { PaymentError } from '../errors.js'

/** The deployment a row belongs to. */
export interface LotteryStoreScope {
  chainId: number
  /** The TicketBroker (lower case). */
  broker: Address
}

/** A rand as issued: its hash went out in ticket parameters. */
export interface StoredRand {
  hash: Hex
  rand: bigint
  payer: Address
  /** `clock.now()` at issue. */
  createdAt: number
}

/** A winning ticket to store. */
export interface NewWinner {
  sender: Address
  nonce: bigint
  face: bigint
  winProb: bigint
  randHash: Hex
  rand: bigint
  expiration: bigint
  sig: Hex
  /** The block when it was accepted (where to look for its redemption events). */
  createdBlock: bigint
}

export type WinnerStatus = 'pending' | 'redeemed' | 'claim' | 'lost'

/** A stored winner. `createdBlock` is absent in rows written before lanes existed. */
export interface StoredWinner extends Omit<NewWinner, 'createdBlock'> {
  /** Assigned by the store, increasing in insertion order. */
  id: number
  createdBlock?: bigint
  status: WinnerStatus
  tx: string | null
  reason: string | null
}

/** Two winners of one (chain id, broker, sender, nonce): `addWinners` stored none of its batch. */
export class LotteryStoreDuplicateError extends PaymentError {
  override name = 'LotteryStoreDuplicateError'
  constructor(readonly sender: Address, readonly nonce: bigint, opts: { cause?: unknown } = {}) {
    super(`A winner of sender ${sender} with nonce ${nonce} is already stored: the batch is not stored`, { ...opts, code: 'PAYMENT_STORE_DUPLICATE', details: { sender, nonce: nonce.toString() } })
  }
}

export interface LotteryPayeeStore {
  /** Stores an issued rand (active), durably before returning. */
  putRand(scope: LotteryStoreScope, r: StoredRand): void
  /** Marks the rand `hash` retired (any scope); an unknown hash is ignored. */
  retireRand(hash: Hex): void
  /** Marks every stored rand retired (what a restart does). */
  retireAll(): void
  /** The rands of `scope`, in no promised order. */
  rands(scope: LotteryStoreScope): (StoredRand & { retired: boolean })[]
  /**
   * Stores winners `pending`, all or none, durably before returning. Throws `LotteryStoreDuplicateError` (and stores
   * none of them) when one has the (sender, nonce) of a stored winner of `scope` or of another in the batch.
   */
  addWinners(scope: LotteryStoreScope, ws: NewWinner[]): void
  /** The `pending` winners of `scope`, in no promised order. */
  pendingWinners(scope: LotteryStoreScope): StoredWinner[]
  /** Every winner of `scope` whatever its status, in no promised order. */
  winners(scope: LotteryStoreScope): StoredWinner[]
  /** Sets a winner's status, transaction and reason (from any status); an unknown id is ignored. */
  mark(id: number, status: WinnerStatus, tx: string | null, reason: string | null): void
  /** `mark` for each entry, all or none. */
  markAll(marks: { id: number; status: WinnerStatus; tx: string | null; reason: string | null }[]): void
  /** How many winners of `scope` are `pending`. */
  countPending(scope: LotteryStoreScope): number
  /** Σ face of the `pending` winners of `scope`, by sender (senders with none are absent). */
  pendingFaceBySender(scope: LotteryStoreScope): Map<Address, bigint>
  /** Releases the store (SQLite: checkpoints and removes the write-ahead log). */
  close(): void
}

const SCHEMA = `
create table if not exists lottery_rands (
  rand_hash text primary key, rand text not null, payer text not null, created_at integer not null, retired integer not null default 0,
  chain_id integer not null, broker text not null
);
create table if not exists lottery_winners (
  id integer primary key autoincrement, chain_id integer not null, broker text not null, sender text not null,
  nonce text not null, face text not null, win_prob text not null, rand_hash text not null, rand text not null,
  expiration text not null, sig text not null, status text not null default 'pending', tx text, reason text,
  created_block text,
  unique (chain_id, broker, sender, nonce)
);`

interface WinnerRow {
  id: number
  sender: string
  nonce: string
  face: string
  win_prob: string
  rand_hash: string
  rand: string
  expiration: string
  sig: string
  status: string
  tx: string | null
  reason: string | null
  created_block: string | null
}

const fromRow = (r: WinnerRow): StoredWinner => ({
  id: r.id, sender: r.sender as Address, nonce: BigInt(r.nonce), face: BigInt(r.face), winProb: BigInt(r.win_prob), randHash: r.rand_hash as Hex,
  rand: BigInt(r.rand), expiration: BigInt(r.expiration), sig: r.sig as Hex, status: r.status as WinnerStatus, tx: r.tx, reason: r.reason,
  ...(r.created_block === null ? {} : { createdBlock: BigInt(r.created_block) }),
})

/** The SQLite store at `path` (':memory:' for a throwaway one), created or upgraded in place. */
export function openSqliteLotteryPayeeStore(path: string): LotteryPayeeStore {
  const db: Db = openDatabase(path)
  db.exec(SCHEMA)
  // Stores written before lanes lack created_block.
  const cols = (db.prepare('pragma table_info(lottery_winners)').all() as { name: string }[]).map((c) => c.name)
  if (!cols.includes('created_block')) db.exec('alter table lottery_winners add column created_block text')
  const insertRand = db.prepare('insert into lottery_rands (rand_hash, rand, payer, created_at, chain_id, broker) values (?, ?, ?, ?, ?, ?)')
  const retireRand = db.prepare('update lottery_rands set retired = 1 where rand_hash = ?')
  const retireAll = db.prepare('update lottery_rands set retired = 1')
  const randRows = db.prepare('select * from lottery_rands where chain_id = ? and broker = ?')
  const insertWinner = db.prepare(
    'insert into lottery_winners (chain_id, broker, sender, nonce, face, win_prob, rand_hash, rand, expiration, sig, created_block) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  )
  const pendingRows = db.prepare("select * from lottery_winners where status = 'pending' and chain_id = ? and broker = ?")
  const allRows = db.prepare('select * from lottery_winners where chain_id = ? and broker = ?')
  const markRow = db.prepare('update lottery_winners set status = ?, tx = ?, reason = ? where id = ?')
  const countPending = db.prepare("select count(*) as n from lottery_winners where status = 'pending' and chain_id = ? and broker = ?")
  const pendingFaceRows = db.prepare("select sender, face from lottery_winners where status = 'pending' and chain_id = ? and broker = ?")
  const markAll = db.transaction((marks: { id: number; status: WinnerStatus; tx: string | null; reason: string | null }[]) => {
    for (const m of marks) markRow.run(m.status, m.tx, m.reason, m.id)
  })
  const addWinners = db.transaction((scope: LotteryStoreScope, ws: NewWinner[]) => {
    for (const w of ws) {
      try {
        insertWinner.run(scope.chainId, scope.broker, w.sender, w.nonce.toString(), w.face.toString(), w.winProb.toString(), w.randHash, w.rand.toString(), w.expiration.toString(), w.sig, w.createdBlock.toString())
      } catch (e) {
        if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new LotteryStoreDuplicateError(w.sender, w.nonce, { cause: e })
        throw e
      }
    }
  })
  return {
    putRand(scope, r) { insertRand.run(r.hash, r.rand.toString(), r.payer, r.createdAt, scope.chainId, scope.broker) },
    retireRand(hash) { retireRand.run(hash) },
    retireAll() { retireAll.run() },
    rands: (scope) => (randRows.all(scope.chainId, scope.broker) as { rand_hash: Hex; rand: string; payer: Address; created_at: number; retired: number }[])
      .map((r) => ({ hash: r.rand_hash, rand: BigInt(r.rand), payer: r.payer, createdAt: r.created_at, retired: r.retired === 1 })),
    addWinners(scope, ws) { addWinners(scope, ws) },
    pendingWinners: (scope) => (pendingRows.all(scope.chainId, scope.broker) as WinnerRow[]).map(fromRow),
    winners: (scope) => (allRows.all(scope.chainId, scope.broker) as WinnerRow[]).map(fromRow),
    mark(id, status, tx, reason) { markRow.run(status, tx, reason, id) },
    markAll(marks) { markAll(marks) },
    countPending: (scope) => (countPending.get(scope.chainId, scope.broker) as { n: number }).n,
    pendingFaceBySender(scope) {
      const m = new Map<Address, bigint>()
      for (const r of pendingFaceRows.all(scope.chainId, scope.broker) as { sender: Address; face: string }[]) m.set(r.sender, (m.get(r.sender) ?? 0n) + BigInt(r.face))
      return m
    },
    close() { db.close() },
  }
}

/** A store in plain Maps: the SQLite store's semantics (uniqueness, all-or-nothing batches), nothing durable. */
export function createMemoryLotteryPayeeStore(): LotteryPayeeStore {
  const rands = new Map<Hex, StoredRand & { retired: boolean; scope: string }>()
  const winners = new Map<number, StoredWinner & { scope: string }>()
  /** scope|sender|nonce of every stored winner (the unique constraint). */
  const keys = new Set<string>()
  let nextId = 1
  const key = (s: LotteryStoreScope) => `${s.chainId}|${s.broker}`
  const copy = ({ scope: _, ...w }: StoredWinner & { scope: string }): StoredWinner => ({ ...w })
  const inScope = (s: LotteryStoreScope) => [...winners.values()].filter((w) => w.scope === key(s))
  const pending = (s: LotteryStoreScope) => inScope(s).filter((w) => w.status === 'pending')
  return {
    putRand(scope, r) {
      if (rands.has(r.hash)) throw new PaymentError(`Rand ${r.hash} is already stored`)
      rands.set(r.hash, { ...r, retired: false, scope: key(scope) })
    },
    retireRand(hash) { const r = rands.get(hash); if (r) r.retired = true },
    retireAll() { for (const r of rands.values()) r.retired = true },
    rands: (scope) => [...rands.values()].filter((r) => r.scope === key(scope)).map(({ scope: _, ...r }) => ({ ...r })),
    addWinners(scope, ws) {
      const batch = new Set<string>()
      for (const w of ws) {
        const k = `${key(scope)}|${w.sender}|${w.nonce}`
        if (keys.has(k) || batch.has(k)) throw new LotteryStoreDuplicateError(w.sender, w.nonce)
        batch.add(k)
      }
      for (const w of ws) {
        const id = nextId++
        winners.set(id, { ...w, id, status: 'pending', tx: null, reason: null, scope: key(scope) })
      }
      for (const k of batch) keys.add(k)
    },
    pendingWinners: (scope) => pending(scope).map(copy),
    winners: (scope) => inScope(scope).map(copy),
    mark(id, status, tx, reason) { const w = winners.get(id); if (w) Object.assign(w, { status, tx, reason }) },
    markAll(marks) { for (const m of marks) this.mark(m.id, m.status, m.tx, m.reason) },
    countPending: (scope) => pending(scope).length,
    pendingFaceBySender(scope) {
      const m = new Map<Address, bigint>()
      for (const w of pending(scope)) m.set(w.sender, (m.get(w.sender) ?? 0n) + w.face)
      return m
    },
    close() {},
  }
}

/** The SQLite store at `path` when one is given, a memory store otherwise (what `lotteryScheme.payee` uses). */
export function lotteryPayeeStore(path?: string): LotteryPayeeStore {
  return path === undefined ? createMemoryLotteryPayeeStore() : openSqliteLotteryPayeeStore(path)
}
