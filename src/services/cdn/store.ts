/**
 * Where a cache keeps the chunks it serves: an injected store, in memory (tests, simulator) or SQLite (a node).
 *
 * @example
 * ```ts
 * import { memoryChunkStore } from './store.js'
 * const s = memoryChunkStore()
 * s.put('video', 0, new Uint8Array([1, 2]))
 * s.get('video', 0) // Uint8Array [1, 2]
 * ```
 */
import type { Db } from '../../core/db.js'

export interface ChunkStore {
  put(contentId: string, index: number, bytes: Uint8Array): void
  get(contentId: string, index: number): Uint8Array | undefined
  /** Number of chunks stored for a content. */
  count(contentId: string): number
  close?(): void
}

export function memoryChunkStore(): ChunkStore {
  const m = new Map<string, Map<number, Uint8Array>>()
  return {
    put(c, i, b) { let x = m.get(c); if (!x) m.set(c, (x = new Map())); x.set(i, b.slice()) },
    get: (c, i) => m.get(c)?.get(i),
    count: (c) => m.get(c)?.size ?? 0,
  }
}

/** Chunks in a SQLite table (the database comes from `openDatabase`). */
export function sqliteChunkStore(db: Db): ChunkStore {
  db.exec('create table if not exists cdn_chunks (content_id text not null, idx integer not null, data blob not null, primary key (content_id, idx))')
  const put = db.prepare('insert or replace into cdn_chunks (content_id, idx, data) values (?, ?, ?)')
  const get = db.prepare('select data from cdn_chunks where content_id = ? and idx = ?')
  const count = db.prepare('select count(*) as n from cdn_chunks where content_id = ?')
  const cache = new Map<string, Uint8Array>() // hot chunks stay in memory: serving reads each chunk many times
  return {
    put(c, i, b) { put.run(c, i, Buffer.from(b)); cache.set(`${c}/${i}`, b.slice()) },
    get(c, i) {
      const k = `${c}/${i}`
      let v = cache.get(k)
      if (!v) {
        const r = get.get(c, i) as { data: Buffer } | undefined
        if (!r) return undefined
        v = new Uint8Array(r.data)
        cache.set(k, v)
      }
      return v
    },
    count: (c) => (count.get(c) as { n: number }).n,
    close: () => db.close(),
  }
}
