import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { createEngine, SimError } from './engine.js'

test('events run in time order, ties in the order they were scheduled, whatever the heap layout', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 300 }), (ts) => {
    const e = createEngine({ initialCapacity: 16 })
    const ran: [number, number][] = []
    ts.forEach((t, i) => e.post(t, () => ran.push([e.now(), i])))
    e.runSync()
    const expected = ts.map((t, i) => [t, i] as [number, number]).sort((a, b) => a[0] - b[0] || a[1] - b[1])
    assert.deepEqual(ran, expected)
  }))
})

test('a cancelled event does not run; an event in the past runs now; a non-finite time is refused', () => {
  const e = createEngine()
  const ran: string[] = []
  const cancel = e.after(5, () => ran.push('cancelled'))
  e.after(10, () => { ran.push('b'); e.schedule(3, () => ran.push(`past@${e.now()}`)) })
  cancel()
  e.runSync()
  assert.deepEqual(ran, ['b', 'past@10'])
  assert.throws(() => e.schedule(NaN, () => {}), SimError)
  assert.equal(e.stats().events, 3) // the cancelled one is popped as a no-op
})

test('runSync stops at `until` and leaves the clock there', () => {
  const e = createEngine()
  let n = 0
  const tick = () => { n++; e.after(10, tick) }
  e.post(0, tick)
  e.runSync({ until: 95 })
  assert.equal(n, 10)
  assert.equal(e.now(), 95)
})

test('the clock: sleep resolves at its time, aborts with the signal, setTimer cancels', async () => {
  const e = createEngine()
  const ac = new AbortController()
  const order: string[] = []
  const a = e.clock.sleep(30).then(() => order.push(`a@${e.now()}`))
  const b = e.clock.sleep(50, { signal: ac.signal }).then(() => order.push('b'), (r) => order.push(`b aborted: ${r}`))
  const cancel = e.clock.setTimer(40, () => order.push('timer'))
  e.after(35, () => { cancel(); ac.abort('stop') })
  const out = await e.run()
  await Promise.all([a, b])
  assert.deepEqual(order, ['a@30', 'b aborted: stop'])
  assert.equal(out.reason, 'idle')
})

test('run: time stays still while external work is in flight, and role code finishes before time moves', async () => {
  const e = createEngine()
  const seen: string[] = []
  // A "role": at t=10 it asks something outside the queue (a real timer here, standing for the EVM), then sleeps 5.
  e.after(10, () => {
    void (async () => {
      await e.external(new Promise((r) => setTimeout(r, 30)))
      seen.push(`answered@${e.now()}`)
      for (let i = 0; i < 100; i++) await Promise.resolve()
      await e.clock.sleep(5)
      seen.push(`slept@${e.now()}`)
    })()
  })
  e.after(12, () => seen.push('other@12'))
  await e.run()
  assert.deepEqual(seen, ['answered@10', 'other@12', 'slept@15'])
})

test('run ends at `until`, on `stopWhen` and on abort', async () => {
  const e = createEngine()
  const tick = () => e.after(1, tick)
  e.post(0, tick)
  assert.deepEqual(await e.run({ until: 50 }), { reason: 'until', now: 50 })
  let n = 0
  assert.equal((await e.run({ stopWhen: () => ++n > 5 })).reason, 'stopped')
  const ac = new AbortController()
  ac.abort()
  assert.equal((await e.run({ signal: ac.signal })).reason, 'aborted')
})
