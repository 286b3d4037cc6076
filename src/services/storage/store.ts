/**
 * What a storage provider keeps across a crash (SQLite): its deals (the signed market deal, the storage terms, where
 * the deal stands) and the encoded replicas, chunk by chunk. A provider killed mid-upload or mid-deal restarts on the
 * same file, rebuilds its trees from the stored replicas and goes on proving.
 *
 * @example
 * ```ts
 * const store = sqliteProviderStore(openDatabase('provider.sqlite'))
 * store.putDeal({ dealId, client, deal, terms, bytes, state: 'uploading' })
 * store.putChunk(dealId, 0, 3, bytes)
 * ```
 */
import type { Address, Hex } from 'viem'
import type { Db } from '../../core/db.js'
import { decodeJson, encodeJson } from '../../net/index.js'
import type { Deal } from '../../market/schema.js'
import type { StorageTerms } from './protocol.js'

export type ProviderDealState = 'uploading' | 'active' | 'ended'

export interface ProviderDeal {
  dealId: Hex
  client: Address
  deal: Deal
  terms: StorageTerms
  /** The file's length in bytes. */
  bytes: number
  state: ProviderDealState
}

export interface ProviderStore {
  putDeal(d: ProviderDeal): void
  setState(dealId: Hex, state: ProviderDealState): void
  deal(dealId: Hex): ProviderDeal | undefined
  deals(state?: ProviderDealState): ProviderDeal[]
  /** Stores chunk `chunk` of replica `replica` (the encoded bytes). */
  putChunk(dealId: Hex, replica: number, chunk: number, body: Uint8Array): void
  chunk(dealId: Hex, replica: number, chunk: number): Uint8Array | undefined
  chunkCount(dealId: Hex, replica: number): number
  /** Drops a deal's replicas (the deal ended, or an upload was abandoned). */
  dropData(dealId: Hex): void
  close(): void
}

export function sqliteProviderStore(db: Db): ProviderStore {
  db.exec(`create table if not exists storage_deals (deal_id text primary key, client text not null, body text not null, state text not null);
    create table if not exists storage_chunks (deal_id text not null, replica integer not null, idx integer not null, data blob not null, primary key (deal_id, replica, idx))`)
  const put = db.prepare('insert into storage_deals (deal_id, client, body, state) values (?, ?, ?, ?) on conflict(deal_id) do update set body = excluded.body, state = excluded.state')
  const setState = db.prepare('update storage_deals set state = ? where deal_id = ?')
  const get = db.prepare('select body, state from storage_deals where deal_id = ?')
  const all = db.prepare('select body, state from storage_deals order by deal_id')
  const byState = db.prepare('select body, state from storage_deals where state = ? order by deal_id')
  const putChunk = db.prepare('insert or replace into storage_chunks (deal_id, replica, idx, data) values (?, ?, ?, ?)')
  const getChunk = db.prepare('select data from storage_chunks where deal_id = ? and replica = ? and idx = ?')
  const count = db.prepare('select count(*) as n from storage_chunks where deal_id = ? and replica = ?')
  const drop = db.prepare('delete from storage_chunks where deal_id = ?')
  const row = (r: { body: string; state: string } | undefined): ProviderDeal | undefined =>
    r ? { ...(decodeJson(new TextEncoder().encode(r.body)) as Omit<ProviderDeal, 'state'>), state: r.state as ProviderDealState } : undefined
  return {
    putDeal(d) {
      const { state, ...body } = d
      put.run(d.dealId, d.client, new TextDecoder().decode(encodeJson(body)), state)
    },
    setState: (id, s) => { setState.run(s, id) },
    deal: (id) => row(get.get(id) as { body: string; state: string } | undefined),
    deals: (s) => ((s ? byState.all(s) : all.all()) as { body: string; state: string }[]).map((r) => row(r)!),
    putChunk: (id, r, i, b) => { putChunk.run(id, r, i, Buffer.from(b.buffer, b.byteOffset, b.byteLength)) },
    chunk(id, r, i) {
      const x = getChunk.get(id, r, i) as { data: Buffer } | undefined
      return x ? new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength) : undefined
    },
    chunkCount: (id, r) => (count.get(id, r) as { n: number }).n,
    dropData: (id) => { drop.run(id) },
    close: () => { if (db.open) db.close() },
  }
}
