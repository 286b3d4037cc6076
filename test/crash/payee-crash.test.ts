import { test } from 'node:test'
import { deploySouk } from '../../src/payments/deploy.js'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyToAddress } from 'viem/accounts'
import type { Address, Hex } from 'viem'
import { createChain, serveJsonRpc, abis } from '../../src/chain/index.js'
import { createPayee, createPayer, fundPayer, type PaymentTerms, type PaymentReceipt } from '../../src/payments/index.js'
import { encodeJson, decodeJson } from '../../src/net/codec.js'
import { testComponents } from '../../src/payments/testing.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

/** Starts the payee child and returns a request function (one JSON line each way). */
function startChild(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./payee-child.ts', import.meta.url).pathname], {
    env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const next = async () => {
    const r = await lines.next()
    if (r.done) throw new Error('payee child exited')
    return decodeJson(enc.encode(r.value)) as Record<string, unknown>
  }
  const ask = async (req: unknown) => {
    child.stdin!.write(dec.decode(encodeJson(req)) + '\n')
    return next()
  }
  return { child, ask, next }
}

test('a payee SIGKILLed after acknowledging winning tickets restarts and redeems every one of them; each winner is stored before receive() returns', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'souk-crash-'))
  const chain = await createChain({ kind: 'embedded', accounts: 4 })
  const server = await serveJsonRpc(chain.provider, { port: 0 })
  let started: ReturnType<typeof startChild> | undefined
  try {
    const d = await deploySouk(chain, chain.devKeys[0])
    const [, payerKey, payeeKey] = chain.devKeys as Hex[]
    const payer = privateKeyToAddress(payerKey).toLowerCase() as Address
    const payee = privateKeyToAddress(payeeKey).toLowerCase() as Address
    await fundPayer('lottery', { chain, deployment: d, key: payerKey }, { deposit: 10n ** 20n, reserves: [{ payee, amount: 10n ** 20n }] })
    const store = join(dir, 'payee.sqlite')
    const env = { SOUK_RPC: server.url, SOUK_DEPLOYMENT: dec.decode(encodeJson(d)), SOUK_KEY: payeeKey, SOUK_STORE: store }
    const c = (started = startChild(env))
    assert.deepEqual(await c.next(), { ready: true })
    // A price close to the face value makes wins frequent.
    const price = 10n ** 15n
    const { terms } = (await c.ask({ op: 'terms', payer, price })) as { terms: PaymentTerms }
    const session = await (await createPayer('lottery', { chain, deployment: d, key: payerKey, ...testComponents('payee-crash.test/payer-1') })).open(terms)
    const face = (terms.params as { faceValue: bigint }).faceValue
    let acked = 0
    for (let i = 0; i < 400 && acked < 12; i++) {
      const r = (await c.ask({ op: 'pay', payment: await session.pay(price) })) as { receipt?: PaymentReceipt; stored?: number; error?: string }
      if (!r.receipt) assert.fail(`payee refused a valid payment: ${r.error}`)
      if (r.receipt.winning) acked++
      // Durable before acknowledged: every winner acknowledged so far is already in the file, read through another
      // connection when receive() returned (one ticket per payment, so at most one winner per receipt).
      assert.equal(r.stored, acked, `payment ${i}: ${acked} winners acknowledged, ${r.stored} stored when receive() returned`)
      if (r.receipt.terms) session.update(r.receipt.terms)
    }
    assert.ok(acked >= 3, `need acknowledged winners to test (got ${acked})`)
    // Kill without any chance to flush or close.
    c.child.kill('SIGKILL')
    await new Promise((r) => c.child.once('exit', r))
    const before = await chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [payee] })
    // Restart from the same SQLite file and redeem.
    const revived = await createPayee('lottery', { chain, deployment: d, key: payeeKey, storePath: store, ...testComponents('payee-crash.test/payee-2') })
    const rep = await revived.settle({ force: true })
    assert.equal(rep.settled, acked)
    const after = await chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [payee] })
    assert.equal(after - before, face * BigInt(acked))
    // Business goes on after the restart, with a payer that restarted too: the payee's new terms start above
    // every nonce already used (stored or redeemed), so new winners stay redeemable.
    const freshPayer = await createPayer('lottery', { chain, deployment: d, key: payerKey, ...testComponents('payee-crash.test/payer-3') })
    const s2 = await freshPayer.open(await revived.terms(payer, price))
    let wins2 = 0
    for (let i = 0; i < 150; i++) {
      const r = await revived.receive(await s2.pay(price))
      if (r.winning) wins2++
      if (r.terms) s2.update(r.terms)
    }
    const rep2 = await revived.settle({ force: true })
    assert.equal(rep2.settled, wins2)
    await revived.close()
  } finally {
    // A failed assertion must not leave the child alive (its pipes would keep this test process running).
    const child = started?.child
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
    }
    await server.close()
    await chain.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
