import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keccak256, toHex, type Address } from 'viem'
import { openDatabase } from '../../core/db.js'
import { createIssuer, createSequenceAllocator, ScheduleExhaustedError } from './issuer.js'
import { batchDigest, microcashDomain, processProof, ticketDigest, ticketHash } from './ticket.js'
import { hexToBytes, recoverDigest } from '../../crypto/index.js'
import { testComponents } from '../testing.js'
import { openSqliteSequenceStore } from './store.js'

const LOTTERY: Address = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
const worker = new URL('./testing/issuer-worker.ts', import.meta.url).pathname

test('issuer: 100 servers paid in parallel get distinct numbers, every ticket verifies', async () => {
  const db = openDatabase(':memory:')
  const issuer = createIssuer({ chainId: 31337, lottery: LOTTERY, escrowId: 3n, privateKey: keccak256(toHex('sponsor')), allocator: createSequenceAllocator(openSqliteSequenceStore(db), { ticketsPerRound: 100_000, reserveSize: 7 }), ...testComponents('issuer.test/issuer-1') })
  const domain = microcashDomain(31337, LOTTERY)
  const servers = Array.from({ length: 100 }, (_, i) => `0x${keccak256(toHex(`s${i}`)).slice(26)}` as Address)
  const seen = new Map<string, Address>()
  await Promise.all(servers.map(async (server, i) => {
    for (let k = 0; k < 20; k++) {
      await new Promise((r) => setImmediate(r))
      const round = 10 + (k % 2)
      const ts = i % 3 === 0 ? [issuer.issueOne(round, server)] : issuer.issueBundle(round, [{ server, count: 1 + (k % 4) }])
      for (const t of ts) {
        const key = `${t.round}:${t.seq}`
        assert.ok(!seen.has(key), `number ${key} issued twice`)
        seen.set(key, server)
        const digest = t.batch ? batchDigest(domain, 3n, processProof(ticketHash(t), t.proof.map((h) => hexToBytes(h)))) : ticketDigest(domain, t)
        assert.deepEqual(recoverDigest(digest, hexToBytes(t.sig)), { ok: true, address: issuer.address })
      }
    }
  }))
  assert.ok(seen.size > 2000)
  // One bundle for many servers: one signature, one ticket each.
  const bundle = issuer.issueBundle(12, servers.map((server) => ({ server, count: 1 })))
  assert.equal(new Set(bundle.map((t) => t.sig)).size, 1)
  assert.equal(new Set(bundle.map((t) => t.seq)).size, 100)
})

test('issuer: the schedule is a hard limit', () => {
  const alloc = createSequenceAllocator(openSqliteSequenceStore(':memory:'), { ticketsPerRound: 10, reserveSize: 4 })
  assert.deepEqual(alloc.take(1n, 0, 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  assert.throws(() => alloc.take(1n, 0, 1), ScheduleExhaustedError)
  assert.deepEqual(alloc.take(1n, 1, 2), [0, 1])
})

function runWorker(db: string, count: number, killAfterLines?: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', worker, db, String(count), '16'], { stdio: ['ignore', 'pipe', 'pipe'] })
    const lines: string[] = []
    let buf = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      const parts = buf.split('\n')
      buf = parts.pop()!
      lines.push(...parts)
      if (killAfterLines !== undefined && lines.length >= killAfterLines && child.exitCode === null) child.kill('SIGKILL')
    })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.on('exit', (code, signal) => {
      if (killAfterLines === undefined && code !== 0) reject(new Error(`worker failed (${code}): ${err}`))
      else resolve(lines) // a partial last line (cut by the kill) is dropped: that ticket was never handed out
      void signal
    })
  })
}

test('issuer: no number repeats across SIGKILL and restart, nor between two processes sharing the store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'souk-microcash-'))
  try {
    const db = join(dir, 'issuer.db')
    const seen = new Set<string>()
    const add = (lines: string[]) => {
      for (const l of lines) {
        const [round, seq] = l.split(' ')
        const k = `${round}:${seq}`
        assert.ok(!seen.has(k), `number ${k} issued twice`)
        seen.add(k)
      }
    }
    add(await runWorker(db, 1e9, 1500)) // killed -9 mid-way
    add(await runWorker(db, 1e9, 800)) // restarted, killed again
    const [p, q] = await Promise.all([runWorker(db, 600), runWorker(db, 600)]) // two processes at once
    add(p)
    add(q)
    assert.ok(seen.size >= 1500 + 800 + 1200, `only ${seen.size} tickets`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
