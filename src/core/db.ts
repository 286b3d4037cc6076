/**
 * SQLite through better-sqlite3, set up for "write before acknowledge": WAL journal, synchronous=FULL by default,
 * so a row committed before a message is acknowledged survives a SIGKILL (and, with FULL, a power loss).
 *
 * @example
 * ```ts
 * import { openDatabase } from './db.js'
 * const db = openDatabase(':memory:')
 * db.exec('create table t (x integer)')
 * db.prepare('insert into t values (?)').run(1)
 * ```
 */
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

export type Db = Database.Database

export function openDatabase(path: string, opts: { synchronous?: 'FULL' | 'NORMAL' } = {}): Db {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`)
  db.pragma('busy_timeout = 5000')
  return db
}

/** Creates a key/value table `name` if missing: small durable counters and settings. */
export function kv(db: Db, name = 'kv') {
  db.exec(`create table if not exists ${name} (k text primary key, v text not null)`)
  const get = db.prepare(`select v from ${name} where k = ?`)
  const put = db.prepare(`insert into ${name} (k, v) values (?, ?) on conflict(k) do update set v = excluded.v`)
  return {
    get: (k: string): string | undefined => (get.get(k) as { v: string } | undefined)?.v,
    set: (k: string, v: string) => { put.run(k, v) },
  }
}
