/**
 * What microcash keeps. The server (`MicrocashServerStore`): every ticket that may still win, from acceptance to its
 * end (`won` after its draw, then `redeemed`, `compensated`, `lost` or `stolen`; losers of a draw are deleted), the
 * evidence of reused or duplicated numbers and every loss with its reason. Rows are scoped by the ConcurrentLottery
 * address; a ticket is unique by (lottery, escrow, round, seq). The sponsor (`SequenceStore`): per (escrow, round),
 * the first sequence number not yet reserved.
 *
 * Each interface has a SQLite implementation (durable, the schema of earlier releases) and a memory one (plain Maps,
 * same semantics); `store.compliance.ts` runs against both.
 *
 * @example
 * ```ts
 * import { openSqliteMicrocashServerStore } from './store.js'
 * const store = openSqliteMicrocashServerStore('server.db') // or createMemoryMicrocashServerStore()
 * const { conflict } = store.addTickets(lottery, escrowId, tickets) // all or none
 * ```
 */
import type { Address, Hex } from 'viem'
import { openDatabase, type Db } from '../../core/db.js'
import { safeJson } from '../../core/errors.js'
import type { SignedTicket } from './contract.js'
import type { MicrocashLoss, MicrocashLossReason } from './server.js'

/** A ticket as the server keeps it (its escrow and server are implied). */
export type StoredMicroTicket = Pick<SignedTicket, 'round' | 'seq' | 'salt' | 'batch' | 'proof' | 'sig'>

export type MicrocashTicketStatus = 'pending' | 'won' | 'redeemed' | 'lost' | 'stolen' | 'compensated'

export interface MicrocashEvidence {
  escrowId: bigint
  round: number
  seq: number
  kind: string
  a: SignedTicket
  b: SignedTicket | null
  /** A duplicate proof for it paid this server. */
  proven: boolean
}

export interface MicrocashServerStore {
  /**
   * Stores `tickets` of `escrowId` as `pending`, all or none, durably before returning. When one has the (round, seq)
   * of a stored ticket of (lottery, escrow), or of an earlier one in the batch, none is stored and the first such
   * ticket is returned with the one it collides with.
   */
  addTickets(lottery: Address, escrowId: bigint, tickets: StoredMicroTicket[]): { conflict?: { ticket: StoredMicroTicket; old: StoredMicroTicket } }
  /** The (escrow, round) pairs with pending tickets, with how many, in no promised order. */
  pendingRounds(lottery: Address): { escrowId: bigint; round: number; count: number }[]
  /** The sequence numbers of the pending tickets of one round, in no promised order. */
  pendingSeqs(lottery: Address, escrowId: bigint, round: number): number[]
  /** After a round's draw, all or none: `winners` become `won` with their rank, `losers` are deleted. */
  recordDraw(lottery: Address, escrowId: bigint, round: number, winners: { seq: number; rank: number }[], losers: number[]): void
  /** The `won` tickets, ordered by escrow id as a decimal string, then round, then seq (the redemption order). */
  won(lottery: Address): (StoredMicroTicket & { escrowId: bigint })[]
  /** Sets the status of tickets of one escrow, all or none; unknown ones are ignored. */
  setStatus(lottery: Address, escrowId: bigint, tickets: { round: number; seq: number }[], status: MicrocashTicketStatus): void
  /** Records a loss and, if `status` is given, sets its ticket's status, all or none. */
  addLoss(lottery: Address, loss: MicrocashLoss, status?: MicrocashTicketStatus): void
  addEvidence(lottery: Address, e: Omit<MicrocashEvidence, 'proven'>): void
  /** Marks the evidence of (escrow, round, seq) proven. */
  markProven(lottery: Address, escrowId: bigint, round: number, seq: number): void
  /** Every evidence of `lottery`, in insertion order. */
  evidence(lottery: Address): MicrocashEvidence[]
  /** Every loss of `lottery`, in insertion order. */
  losses(lottery: Address): MicrocashLoss[]
  close(): void
}

const STATUS: Record<MicrocashTicketStatus, number> = { pending: 0, won: 1, redeemed: 2, lost: 3, stolen: 4, compensated: 5 }
const lower = (a: Address) => a.toLowerCase()
/** Evidence tickets are kept as JSON (bigints as decimal strings) and read back with their escrow id a bigint. */
const evidenceTicket = (json: string): SignedTicket => { const x = JSON.parse(json) as SignedTicket; return { ...x, escrowId: BigInt(x.escrowId as unknown as string) } }

/** The SQLite server store on `db` (or a file path), tables created if missing. */
export function openSqliteMicrocashServerStore(dbOrPath: Db | string): MicrocashServerStore {
  const db = typeof dbOrPath === 'string' ? openDatabase(dbOrPath) : dbOrPath
  db.exec(`create table if not exists microcash_tickets (
    lottery text not null, escrow text not null, round integer not null, seq integer not null,
    salt text not null, batch integer not null, proof text not null, sig text not null,
    status integer not null, rank integer, primary key (lottery, escrow, round, seq))`)
  db.exec(`create table if not exists microcash_evidence (
    lottery text not null, escrow text not null, round integer not null, seq integer not null, kind text not null,
    a text not null, b text, proven integer not null default 0)`)
  db.exec(`create table if not exists microcash_losses (
    lottery text not null, escrow text not null, round integer not null, seq integer not null, reason text not null,
    value text not null, detail text)`)
  const qGet = db.prepare('select round, seq, salt, batch, proof, sig from microcash_tickets where lottery = ? and escrow = ? and round = ? and seq = ?')
  const qIns = db.prepare('insert into microcash_tickets (lottery, escrow, round, seq, salt, batch, proof, sig, status) values (?, ?, ?, ?, ?, ?, ?, ?, 0)')
  const qEv = db.prepare('insert into microcash_evidence (lottery, escrow, round, seq, kind, a, b) values (?, ?, ?, ?, ?, ?, ?)')
  const qLoss = db.prepare('insert into microcash_losses (lottery, escrow, round, seq, reason, value, detail) values (?, ?, ?, ?, ?, ?, ?)')
  const qStatus = db.prepare('update microcash_tickets set status = ? where lottery = ? and escrow = ? and round = ? and seq = ?')
  const qGroups = db.prepare('select escrow, round, count(*) as n from microcash_tickets where lottery = ? and status = ? group by escrow, round')
  const qSeqs = db.prepare('select seq from microcash_tickets where lottery = ? and escrow = ? and round = ? and status = ?')
  const qWin = db.prepare('update microcash_tickets set status = ?, rank = ? where lottery = ? and escrow = ? and round = ? and seq = ?')
  const qDel = db.prepare('delete from microcash_tickets where lottery = ? and escrow = ? and round = ? and seq = ?')
  const qWon = db.prepare('select escrow, round, seq, salt, batch, proof, sig from microcash_tickets where lottery = ? and status = ? order by escrow, round, seq')
  const qProven = db.prepare('update microcash_evidence set proven = 1 where lottery = ? and escrow = ? and round = ? and seq = ?')
  const qEvidence = db.prepare('select escrow, round, seq, kind, a, b, proven from microcash_evidence where lottery = ? order by rowid')
  const qLosses = db.prepare('select escrow, round, seq, reason, value, detail from microcash_losses where lottery = ? order by rowid')
  type TicketRow = { round: number; seq: number; salt: string; batch: number; proof: string; sig: string }
  const fromRow = (r: TicketRow): StoredMicroTicket => ({ round: r.round, seq: r.seq, salt: r.salt as Hex, batch: r.batch === 1, proof: JSON.parse(r.proof) as Hex[], sig: r.sig as Hex })
  const ROLLBACK = new Error('rollback')
  const insert = db.transaction((lot: string, esc: string, tickets: StoredMicroTicket[], out: { conflict?: { ticket: StoredMicroTicket; old: StoredMicroTicket } }) => {
    for (const t of tickets) {
      const old = qGet.get(lot, esc, t.round, t.seq) as TicketRow | undefined
      if (old) { out.conflict = { ticket: t, old: fromRow(old) }; throw ROLLBACK }
      qIns.run(lot, esc, t.round, t.seq, t.salt, t.batch ? 1 : 0, JSON.stringify(t.proof), t.sig)
    }
  })
  const draw = db.transaction((lot: string, esc: string, round: number, winners: { seq: number; rank: number }[], losers: number[]) => {
    for (const w of winners) qWin.run(STATUS.won, w.rank, lot, esc, round, w.seq)
    for (const seq of losers) qDel.run(lot, esc, round, seq)
  })
  const status = db.transaction((lot: string, esc: string, tickets: { round: number; seq: number }[], s: number) => { for (const t of tickets) qStatus.run(s, lot, esc, t.round, t.seq) })
  const loss = db.transaction((lot: string, l: MicrocashLoss, s?: MicrocashTicketStatus) => {
    qLoss.run(lot, l.escrowId.toString(), l.round, l.seq, l.reason, l.value.toString(), l.detail ?? null)
    if (s !== undefined) qStatus.run(STATUS[s], lot, l.escrowId.toString(), l.round, l.seq)
  })
  return {
    addTickets(lottery, escrowId, tickets) {
      const out: { conflict?: { ticket: StoredMicroTicket; old: StoredMicroTicket } } = {}
      try { insert(lower(lottery), escrowId.toString(), tickets, out) } catch (x) { if (x !== ROLLBACK) throw x }
      return out
    },
    pendingRounds: (lottery) => (qGroups.all(lower(lottery), STATUS.pending) as { escrow: string; round: number; n: number }[]).map((g) => ({ escrowId: BigInt(g.escrow), round: g.round, count: g.n })),
    pendingSeqs: (lottery, escrowId, round) => (qSeqs.all(lower(lottery), escrowId.toString(), round, STATUS.pending) as { seq: number }[]).map((r) => r.seq),
    recordDraw(lottery, escrowId, round, winners, losers) { draw(lower(lottery), escrowId.toString(), round, winners, losers) },
    won: (lottery) => (qWon.all(lower(lottery), STATUS.won) as (TicketRow & { escrow: string })[]).map((r) => ({ escrowId: BigInt(r.escrow), ...fromRow(r) })),
    setStatus(lottery, escrowId, tickets, s) { status(lower(lottery), escrowId.toString(), tickets, STATUS[s]) },
    addLoss(lottery, l, s) { loss(lower(lottery), l, s) },
    addEvidence(lottery, e) { qEv.run(lower(lottery), e.escrowId.toString(), e.round, e.seq, e.kind, safeJson(e.a), e.b ? safeJson(e.b) : null) },
    markProven(lottery, escrowId, round, seq) { qProven.run(lower(lottery), escrowId.toString(), round, seq) },
    evidence: (lottery) => (qEvidence.all(lower(lottery)) as { escrow: string; round: number; seq: number; kind: string; a: string; b: string | null; proven: number }[])
      .map((r) => ({ escrowId: BigInt(r.escrow), round: r.round, seq: r.seq, kind: r.kind, a: evidenceTicket(r.a), b: r.b ? evidenceTicket(r.b) : null, proven: r.proven === 1 })),
    losses: (lottery) => (qLosses.all(lower(lottery)) as { escrow: string; round: number; seq: number; reason: MicrocashLossReason; value: string; detail: string | null }[])
      .map((r) => ({ escrowId: BigInt(r.escrow), round: r.round, seq: r.seq, reason: r.reason, value: BigInt(r.value), ...(r.detail ? { detail: r.detail } : {}) })),
    close() { db.close() },
  }
}

/** A server store in plain Maps: the SQLite store's semantics (uniqueness, all-or-nothing batches), nothing durable. */
export function createMemoryMicrocashServerStore(): MicrocashServerStore {
  type Row = StoredMicroTicket & { lottery: string; escrow: string; status: MicrocashTicketStatus; rank?: number }
  const tickets = new Map<string, Row>()
  const evidence: { lottery: string; escrowId: bigint; round: number; seq: number; kind: string; a: string; b: string | null; proven: boolean }[] = []
  const losses: { lottery: string; loss: MicrocashLoss }[] = []
  const k = (lot: string, esc: string, round: number, seq: number) => `${lot}|${esc}|${round}|${seq}`
  const copy = (r: Row): StoredMicroTicket => ({ round: r.round, seq: r.seq, salt: r.salt, batch: r.batch, proof: [...r.proof], sig: r.sig })
  const rowsOf = (lot: string) => [...tickets.values()].filter((r) => r.lottery === lot)
  return {
    addTickets(lottery, escrowId, ts) {
      const lot = lower(lottery), esc = escrowId.toString()
      const batch = new Map<string, StoredMicroTicket>()
      for (const t of ts) {
        const key = k(lot, esc, t.round, t.seq)
        const old = tickets.get(key) ?? batch.get(key)
        if (old) return { conflict: { ticket: t, old: { round: old.round, seq: old.seq, salt: old.salt, batch: old.batch, proof: [...old.proof], sig: old.sig } } }
        batch.set(key, t)
      }
      for (const [key, t] of batch) tickets.set(key, { ...t, proof: [...t.proof], lottery: lot, escrow: esc, status: 'pending' })
      return {}
    },
    pendingRounds(lottery) {
      const groups = new Map<string, { escrowId: bigint; round: number; count: number }>()
      for (const r of rowsOf(lower(lottery))) {
        if (r.status !== 'pending') continue
        const g = groups.get(`${r.escrow}|${r.round}`) ?? { escrowId: BigInt(r.escrow), round: r.round, count: 0 }
        g.count++
        groups.set(`${r.escrow}|${r.round}`, g)
      }
      // The order SQLite's group by gives (escrow id as a decimal string, round); nothing relies on it.
      return [...groups.values()].sort((a, b) => (`${a.escrowId}` < `${b.escrowId}` ? -1 : `${a.escrowId}` > `${b.escrowId}` ? 1 : a.round - b.round))
    },
    pendingSeqs: (lottery, escrowId, round) => rowsOf(lower(lottery)).filter((r) => r.escrow === escrowId.toString() && r.round === round && r.status === 'pending').map((r) => r.seq),
    recordDraw(lottery, escrowId, round, winners, losers) {
      const lot = lower(lottery), esc = escrowId.toString()
      for (const w of winners) { const r = tickets.get(k(lot, esc, round, w.seq)); if (r) { r.status = 'won'; r.rank = w.rank } }
      for (const seq of losers) tickets.delete(k(lot, esc, round, seq))
    },
    won: (lottery) => rowsOf(lower(lottery)).filter((r) => r.status === 'won')
      .sort((a, b) => (a.escrow < b.escrow ? -1 : a.escrow > b.escrow ? 1 : a.round - b.round || a.seq - b.seq))
      .map((r) => ({ escrowId: BigInt(r.escrow), ...copy(r) })),
    setStatus(lottery, escrowId, ts, s) {
      for (const t of ts) { const r = tickets.get(k(lower(lottery), escrowId.toString(), t.round, t.seq)); if (r) r.status = s }
    },
    addLoss(lottery, l, s) {
      losses.push({ lottery: lower(lottery), loss: { ...l } })
      if (s !== undefined) { const r = tickets.get(k(lower(lottery), l.escrowId.toString(), l.round, l.seq)); if (r) r.status = s }
    },
    addEvidence(lottery, e) { evidence.push({ lottery: lower(lottery), escrowId: e.escrowId, round: e.round, seq: e.seq, kind: e.kind, a: safeJson(e.a), b: e.b ? safeJson(e.b) : null, proven: false }) },
    markProven(lottery, escrowId, round, seq) {
      for (const e of evidence) if (e.lottery === lower(lottery) && e.escrowId === escrowId && e.round === round && e.seq === seq) e.proven = true
    },
    evidence: (lottery) => evidence.filter((e) => e.lottery === lower(lottery))
      .map((e) => ({ escrowId: e.escrowId, round: e.round, seq: e.seq, kind: e.kind, a: evidenceTicket(e.a), b: e.b ? evidenceTicket(e.b) : null, proven: e.proven })),
    losses: (lottery) => losses.filter((l) => l.lottery === lower(lottery)).map(({ loss: { detail, ...l } }) => ({ ...l, ...(detail ? { detail } : {}) })),
    close() {},
  }
}

/** The sponsor's durable reservations: per (escrow, round), the first sequence number not yet reserved. */
export interface SequenceStore {
  /**
   * Reserves up to `want` numbers of (escrow, round) below `limit`, durably before returning, and returns the range
   * [from, end) (empty when none are left). Atomic across processes sharing one SQLite file.
   */
  reserve(escrowId: bigint, round: number, want: number, limit: number): [number, number]
}

/** The SQLite sequence store on `db` (or a file path), in `table` (default `microcash_seq`). */
export function openSqliteSequenceStore(dbOrPath: Db | string, table = 'microcash_seq'): SequenceStore {
  const db = typeof dbOrPath === 'string' ? openDatabase(dbOrPath) : dbOrPath
  db.exec(`create table if not exists ${table} (escrow text not null, round integer not null, next integer not null, primary key (escrow, round))`)
  const get = db.prepare(`select next from ${table} where escrow = ? and round = ?`)
  const put = db.prepare(`insert into ${table} (escrow, round, next) values (?, ?, ?) on conflict(escrow, round) do update set next = excluded.next`)
  const reserve = db.transaction((escrow: string, round: number, want: number, limit: number): [number, number] => {
    const cur = (get.get(escrow, round) as { next: number } | undefined)?.next ?? 0
    const end = Math.min(limit, cur + want)
    put.run(escrow, round, end)
    return [cur, end]
  })
  // IMMEDIATE: several processes may share the file; the write lock is taken before the read.
  return { reserve: (escrowId, round, want, limit) => reserve.immediate(escrowId.toString(), round, want, limit) }
}

/** A sequence store in a Map: the SQLite store's semantics, nothing durable. */
export function createMemorySequenceStore(): SequenceStore {
  const next = new Map<string, number>()
  return {
    reserve(escrowId, round, want, limit) {
      const key = `${escrowId}:${round}`
      const cur = next.get(key) ?? 0
      const end = Math.min(limit, cur + want)
      next.set(key, end)
      return [cur, end]
    },
  }
}

/** The SQLite server store at `path` when one is given, a memory store otherwise (what `microcashScheme.payee` uses). */
export function microcashServerStore(path?: string): MicrocashServerStore {
  return path === undefined ? createMemoryMicrocashServerStore() : openSqliteMicrocashServerStore(path)
}

/** The SQLite sequence store at `path` when one is given, a memory store otherwise (what `microcashScheme.payer` uses). */
export function sequenceStore(path?: string): SequenceStore {
  return path === undefined ? createMemorySequenceStore() : openSqliteSequenceStore(path)
}
