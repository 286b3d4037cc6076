/**
 * Test helper (not part of the library): an issuer process paying 100 servers in parallel, printing one line
 * `round seq server` per ticket handed out, until killed or `count` tickets are issued.
 * Usage: node --import tsx issuer-worker.ts <db path> <count> <reserveSize>
 */
import { keccak256, toHex, type Address } from 'viem'
import { openDatabase } from '../../../core/db.js'
import { createIssuer, createSequenceAllocator } from '../issuer.js'
import { seededRng } from '../../../crypto/rng.js'
import { openSqliteSequenceStore } from '../store.js'

const [dbPath, countArg, reserveArg] = process.argv.slice(2)
const db = openDatabase(dbPath)
const allocator = createSequenceAllocator(openSqliteSequenceStore(db), { ticketsPerRound: 1 << 30, reserveSize: Number(reserveArg ?? 16) })
const issuer = createIssuer({ chainId: 31337, lottery: '0x5FbDB2315678afecb367f032d93F642f64180aa3', escrowId: 1n, privateKey: keccak256(toHex('sponsor')), allocator, rng: seededRng(`issuer-worker/${process.pid}`) })
const servers = Array.from({ length: 100 }, (_, i) => `0x${keccak256(toHex(`srv${i}`)).slice(26)}` as Address)
const total = Number(countArg ?? 1e9)
let issued = 0
const round = 7
async function serve(server: Address, i: number) {
  while (issued < total) {
    await new Promise((r) => setImmediate(r))
    const ts = i % 2 === 0 ? issuer.issueBundle(round, [{ server, count: 1 + (issued % 5) }]) : [issuer.issueOne(round, server)]
    issued += ts.length
    process.stdout.write(ts.map((t) => `${t.round} ${t.seq} ${t.server}\n`).join(''))
  }
}
await Promise.all(servers.map(serve))
