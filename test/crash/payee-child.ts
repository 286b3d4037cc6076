/**
 * A lottery payee in its own process, for the crash test: reads one JSON request per stdin line
 * ({op:'terms', payer, price} or {op:'pay', payment}) and answers one JSON line on stdout. Its state lives in
 * the SQLite file at SOUK_STORE; the chain is the parent's, over JSON-RPC at SOUK_RPC.
 */
import { createInterface } from 'node:readline'
import { createChain } from '../../src/chain/index.js'
import { createPayee } from '../../src/payments/index.js'
import { encodeJson, decodeJson } from '../../src/net/codec.js'
import type { Hex } from 'viem'

const chain = await createChain({ kind: 'rpc', url: process.env.SOUK_RPC!, dev: true })
const deployment = decodeJson(new TextEncoder().encode(process.env.SOUK_DEPLOYMENT!)) as never
const payee = await createPayee('lottery', { chain, deployment, key: process.env.SOUK_KEY as Hex, storePath: process.env.SOUK_STORE })
const out = (v: unknown) => process.stdout.write(new TextDecoder().decode(encodeJson(v)) + '\n')
out({ ready: true })
for await (const line of createInterface({ input: process.stdin })) {
  const req = decodeJson(new TextEncoder().encode(line)) as { op: string; payer?: Hex; price?: bigint; payment?: never }
  try {
    if (req.op === 'terms') out({ terms: await payee.terms(req.payer!, req.price!) })
    else if (req.op === 'pay') out({ receipt: await payee.receive(req.payment!) })
    else if (req.op === 'settle') out({ report: await payee.settle({ force: true }) })
  } catch (e) {
    out({ error: (e as Error).message })
  }
}
