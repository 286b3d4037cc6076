/**
 * What the channel payee keeps: per channel, its best voucher, what the chain had paid at the last collect, whether
 * it is closed, and the block from which to look for its events. `ChannelVoucherStore` is the interface; two
 * implementations pass `store.compliance.ts`: `openSqliteChannelVoucherStore(path)` (durable: a voucher written by
 * `upsert` survives a SIGKILL, the file format of earlier releases is upgraded in place) and
 * `createMemoryChannelVoucherStore()` (plain Maps, same semantics, nothing survives the process).
 *
 * @example
 * ```ts
 * import { channelVoucherStore } from './store.js'
 * const store = channelVoucherStore('vouchers.sqlite') // or channelVoucherStore() for memory
 * store.upsert({ channelId, sender, cumulative: 3n, sig, collected: 0n, fromBlock: 12n })
 * store.markCollected(channelId, 3n)
 * ```
 */
import type { Address, Hex } from 'viem'
import { openDatabase } from '../../core/db.js'

/** One channel as stored. */
export interface ChannelVoucherRecord {
  channelId: Hex
  /** The channel's payer (lower case). */
  sender: Address
  /** The best voucher's cumulative amount and signature. */
  cumulative: bigint
  sig: Hex
  /** What the chain had paid this payee on the channel at the last collect or close. */
  collected: bigint
  closed: boolean
  /** Block from which to search the channel's events. */
  fromBlock: bigint
}

export interface ChannelVoucherStore {
  /**
   * Writes a channel's best voucher, durably before returning. A new channel is stored whole (`closed` false);
   * for a known one only `cumulative` and `sig` change (its sender, collected, closed and fromBlock stay).
   */
  upsert(r: Omit<ChannelVoucherRecord, 'closed'>): void
  /** Sets what the chain has paid on a known channel; an unknown id is ignored. */
  markCollected(channelId: Hex, collected: bigint): void
  /** Marks a known channel closed with what the chain paid on it in the end; an unknown id is ignored. */
  markClosed(channelId: Hex, collected: bigint): void
  /** Every stored channel, in no promised order. */
  all(): ChannelVoucherRecord[]
  /** Releases the store (SQLite: checkpoints and removes the write-ahead log). */
  close(): void
}

/** The SQLite store at `path` (':memory:' for a throwaway one), created or upgraded in place. */
export function openSqliteChannelVoucherStore(path: string): ChannelVoucherStore {
  const db = openDatabase(path)
  db.exec(`create table if not exists channel_vouchers (
    channel_id text primary key, sender text not null, cumulative text not null, sig text not null, collected text not null default '0', closed integer not null default 0,
    from_block text not null default '0')`)
  // Stores written before `from_block` existed get it (searching their channels' events from block 0).
  if (!(db.prepare('pragma table_info(channel_vouchers)').all() as { name: string }[]).some((c) => c.name === 'from_block')) {
    db.exec(`alter table channel_vouchers add column from_block text not null default '0'`)
  }
  const upsert = db.prepare(`insert into channel_vouchers (channel_id, sender, cumulative, sig, collected, from_block) values (?, ?, ?, ?, ?, ?)
    on conflict(channel_id) do update set cumulative = excluded.cumulative, sig = excluded.sig`)
  const markClosed = db.prepare('update channel_vouchers set closed = 1, collected = ? where channel_id = ?')
  const markCollected = db.prepare('update channel_vouchers set collected = ? where channel_id = ?')
  const all = db.prepare('select * from channel_vouchers')
  type Row = { channel_id: Hex; sender: Address; cumulative: string; sig: Hex; closed: number; collected: string; from_block: string }
  return {
    upsert(r) { upsert.run(r.channelId, r.sender, r.cumulative.toString(), r.sig, r.collected.toString(), r.fromBlock.toString()) },
    markCollected(id, collected) { markCollected.run(collected.toString(), id) },
    markClosed(id, collected) { markClosed.run(collected.toString(), id) },
    all: () => (all.all() as Row[]).map((r) => ({
      channelId: r.channel_id, sender: r.sender, cumulative: BigInt(r.cumulative), sig: r.sig, collected: BigInt(r.collected), closed: r.closed === 1, fromBlock: BigInt(r.from_block),
    })),
    close() { db.close() },
  }
}

/** A store in plain Maps: the SQLite store's semantics, nothing durable. */
export function createMemoryChannelVoucherStore(): ChannelVoucherStore {
  const rows = new Map<Hex, ChannelVoucherRecord>()
  return {
    upsert(r) {
      const had = rows.get(r.channelId)
      if (had) { had.cumulative = r.cumulative; had.sig = r.sig } else rows.set(r.channelId, { ...r, closed: false })
    },
    markCollected(id, collected) { const r = rows.get(id); if (r) r.collected = collected },
    markClosed(id, collected) { const r = rows.get(id); if (r) { r.closed = true; r.collected = collected } },
    all: () => [...rows.values()].map((r) => ({ ...r })),
    close() {},
  }
}

/** The SQLite store at `path` when one is given, a memory store otherwise (what `channelScheme.payee` uses). */
export function channelVoucherStore(path?: string): ChannelVoucherStore {
  return path === undefined ? createMemoryChannelVoucherStore() : openSqliteChannelVoucherStore(path)
}
