/**
 * A lottery payee in its own process, for the crash test: reads one JSON request per stdin line
 * ({op:'terms', payer, price} or {op:'pay', payment}) and answers one JSON line on stdout. Its state lives in
 * the SQLite file at SOUK_STORE; the chain is the parent's, over JSON-RPC at SOUK_RPC.
 *
 * Each `pay` answer carries `stored`: the winner rows in SOUK_STORE counted through a second, read-only SQLite
 * connection synchronously the moment `receive()` returns, before the answer (the acknowledgement) is written. A
 * winner written later (next tick, a timer, a batch) is not counted, so the parent sees it was acknowledged first.
 */
import { createInterface } from 'node:readline'
import Database from 'better-sqlite3'
import { createChain } from '../../src/chain/index.js'
import { createPayee } from '../../src/payments/index.js'
import { encodeJson, decodeJson } from '../../src/net/codec.js'
import type { Hex } from 'viem'
import { testComponents } from '../../src/payments/testing.js'

const chain = await createChain({ kind: 'rpc', url: process.env.SOUK_RPC!, dev: true })
const deployment = decodeJson(new TextEncoder().encode(process.env.SOUK_DEPLOYMENT!)) as never
const payee = await createPayee('lottery', { chain, deployment, key: process.env.SOUK_KEY as Hex, storePath: process.env.SOUK_STORE, ...testComponents('payee-crash.child/payee-1') })
// Counting every row (whatever status or columns the schema grows) of the payee's winners table.
const reader = new Database(process.env.SOUK_STORE!, { readonly: true, fileMustExist: true })
const countWinners = reader.prepare('select count(*) as n from lottery_winners')
const stored = () => Number((countWinners.get() as { n: number | bigint }).n)
const out = (v: unknown) => process.stdout.write(new TextDecoder().decode(encodeJson(v)) + '\n')
out({ ready: true })
for await (const line of createInterface({ input: process.stdin })) {
  const req = decodeJson(new TextEncoder().encode(line)) as { op: string; payer?: Hex; price?: bigint; payment?: never }
  try {
    if (req.op === 'terms') out({ terms: await payee.terms(req.payer!, req.price!) })
    else if (req.op === 'pay') {
      const receipt = await payee.receive(req.payment!)
      const n = stored() // no await between receive() returning and this count
      out({ receipt, stored: n })
    }
    else if (req.op === 'settle') out({ report: await payee.settle({ force: true }) })
  } catch (e) {
    out({ error: (e as Error).message })
  }
}
