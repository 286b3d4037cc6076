/**
 * The hand-written lottery payment parser (the payee's hot path) against the zod schema it stands in for: on every
 * input, valid or mutated, the two give the same verdict, and where both accept, the same output.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { LotteryPaymentSchema, MAX_TICKETS_PER_PAYMENT, parseLotteryPayment } from './schemas.js'

const hex = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => `0x${Buffer.from(b).toString('hex')}`)
const mixedCase = (s: string) => fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }).map((up) => s.slice(0, 2) + [...s.slice(2)].map((c, i) => (up[i + 2] ? c.toUpperCase() : c)).join(''))
const uint = fc.bigInt({ min: 0n, max: (1n << 256n) - 1n })
const ticket = fc.record({ nonce: uint, sig: hex(65).chain(mixedCase) })
const valid = fc.record({
  scheme: fc.constant('lottery'),
  payer: hex(20).chain(mixedCase),
  payee: hex(20),
  amount: uint,
  body: fc.record({
    faceValue: fc.bigInt({ min: 1n, max: 1n << 200n }),
    winProb: fc.bigInt({ min: 1n, max: (1n << 256n) - 1n }),
    recipientRandHash: hex(32).chain(mixedCase),
    expirationBlock: uint,
    tickets: fc.array(ticket, { minLength: 1, maxLength: 4 }),
  }),
})

/** A valid payment with one field somewhere replaced by something else, or an extra key added. */
const mutated = fc.tuple(valid, fc.nat(), fc.oneof(
  fc.anything(), fc.constant(-1n), fc.constant(0n), fc.constant('0x12'), fc.constant(undefined), fc.constant(null), fc.constant([]), hex(20), hex(32), hex(65),
  fc.constant(Array.from({ length: MAX_TICKETS_PER_PAYMENT + 1 }, () => ({ nonce: 1n, sig: `0x${'11'.repeat(65)}` }))),
), fc.boolean()).map(([p, i, v, extra]) => {
  const paths = [['scheme'], ['payer'], ['payee'], ['amount'], ['body'], ['body', 'faceValue'], ['body', 'winProb'], ['body', 'recipientRandHash'], ['body', 'expirationBlock'], ['body', 'tickets'], ['body', 'tickets', 0], ['body', 'tickets', 0, 'nonce'], ['body', 'tickets', 0, 'sig']]
  const path = paths[i % paths.length]!
  const copy = structuredClone(p) as Record<string, unknown>
  let o: Record<string | number, unknown> = copy
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>
  if (extra) o.__extra = v
  else o[path.at(-1)!] = v
  return copy
})

function agree(x: unknown) {
  const fast = parseLotteryPayment(x)
  const z = LotteryPaymentSchema.safeParse(x)
  assert.equal(fast !== undefined, z.success, `verdicts differ on ${String(JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)))}`)
  if (fast && z.success) assert.deepEqual(fast, z.data)
}

test('parseLotteryPayment accepts exactly what LotteryPaymentSchema accepts, with the same output (valid payments)', () => {
  fc.assert(fc.property(valid, agree), { numRuns: 500 })
})

test('parseLotteryPayment refuses exactly what LotteryPaymentSchema refuses (one field replaced, or an extra key)', () => {
  fc.assert(fc.property(mutated, agree), { numRuns: 3000 })
  for (const x of [null, undefined, 1, 'lottery', [], {}, { scheme: 'lottery' }, new Map()]) agree(x)
})
