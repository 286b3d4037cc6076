import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createChain } from '../chain/index.js'
import { deploySouk, schemeByName, schemeNames, schemes, zScheme, PaymentSchema, UnknownSchemeError, SCHEME_NAMES } from './index.js'

test('an unknown scheme name is an UnknownSchemeError that lists the known ones', () => {
  assert.throws(() => schemeByName('lotery'), (e: unknown) => {
    assert.ok(e instanceof UnknownSchemeError)
    assert.equal(e.shortMessage, 'Unknown payment scheme "lotery"')
    assert.deepEqual(e.hints, ['Available: lottery, channel, microcash.'])
    return true
  })
})

test('the scheme names, their zod enum and the wire schemas derive from the one list', () => {
  assert.deepEqual(schemeNames(), schemes().map((s) => s.name))
  assert.deepEqual([...SCHEME_NAMES], ['lottery', 'channel', 'microcash'])
  for (const name of schemeNames()) {
    assert.equal(zScheme.parse(name), name)
    assert.equal(schemeByName(name).name, name)
  }
  assert.equal(zScheme.safeParse('cheque').success, false)
  const payment = { scheme: 'cheque', payer: `0x${'11'.repeat(20)}`, payee: `0x${'22'.repeat(20)}`, amount: 1n, body: {} }
  assert.equal(PaymentSchema.safeParse(payment).success, false)
  assert.equal(PaymentSchema.safeParse({ ...payment, scheme: 'channel' }).success, true)
})

test('deploySouk deploys the token, then each scheme in list order into deployment.contracts[name]', async () => {
  const chain = await createChain({ kind: 'embedded', accounts: 2 })
  try {
    const d = await deploySouk(chain, chain.devKeys[0]!, { unlockPeriodBlocks: 7, settleDelayBlocks: 9 })
    assert.deepEqual(Object.keys(d.contracts), schemeNames())
    assert.equal(d.contracts.lottery.unlockPeriodBlocks, 7)
    assert.equal(d.contracts.channel.settleDelayBlocks, 9)
    const blocks = schemeNames().map((n) => BigInt(d.contracts[n].blockNumber))
    assert.deepEqual(blocks, [...blocks].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), 'deployed in list order')
    assert.ok(blocks[blocks.length - 1]! <= BigInt(d.blockNumber))
    for (const [name, c] of Object.entries(d.contracts)) {
      for (const [k, v] of Object.entries(c)) if (typeof v === 'string' && v.startsWith('0x')) assert.ok((await chain.public.getCode({ address: v as `0x${string}` }))!.length > 2, `${name}.${k} has code`)
    }
  } finally {
    await chain.close()
  }
})
