/**
 * Client-pays exchange: a payer fetches a chunked service from a server, paying per chunk.
 *
 * Message flow (docs/exchange.md):
 * ```
 * payer                                   server
 *   open {payer, request}           →
 *                                   ←     terms {chunkCount, terms}
 *   next {index: 0}                 →
 *                                   ←     chunk {index: 0} + body
 *   next {index: 1, payment(chunk 0)} →   (payee.receive; serve 1 only if 0 is paid)
 *                                   ←     chunk {index: 1, receipt} + body
 *   ...
 *   done {payment(last chunk)}      →
 *                                   ←     done {receipt}
 * ```
 * The server serves chunk k only when chunks 0..k−1 are paid (`maxUnpaidChunks` = 1), so a payer that stops paying
 * gets one unpaid chunk and is refused with `unpaid`. The payer pays for chunk k only after `verify` accepted it, so
 * a server that serves garbage or stops serving is never paid for it.
 *
 * @example
 * ```ts
 * const server = await serveExchange(serverTransport, { payee, logger, pricePerChunk: 10n,
 *   open: async () => ({ chunkCount: 4, chunk: async (i) => ({ body: data[i] }) }) })
 * const r = await fetchExchange(clientTransport, serverAddress, { payer, logger, request: { file: 'a' }, verify: (i, b) => true })
 * r.chunks.length // 4
 * ```
 */
import type { Logger } from '../core/logger.js'
import { SoukError } from '../core/errors.js'
import { readMessage, sendMessage, StreamClosedError, isProtocolViolation, type MessageStream, type PeerId, type Transport } from '../net/index.js'
import { PaymentRejectedError } from '../payments/errors.js'
import type { PayeeSide, PayerSide, PayerSession, PaymentReceipt } from '../payments/types.js'
import { clientCodec, serverCodec, EXCHANGE_IDLE_TIMEOUT_MS, EXCHANGE_PROTOCOL, type ServerHeader } from './protocol.js'
import type { ChunkSource, ExchangeResult, ExchangeServerStats, RefuseReason } from './types.js'
import { releaseWhenRemoteEnds } from '../net/index.js'

/** Options of {@link serveExchange}. */
export interface ServeExchangeOptions {
  /** Protocol id to handle (default {@link EXCHANGE_PROTOCOL}). */
  protocol?: string
  /** The payment scheme's payee side; omit for free (unpaid) service. */
  payee?: PayeeSide
  /** Price of one chunk (token units), fixed or per request. */
  pricePerChunk: bigint | ((request: unknown, peer: PeerId) => bigint)
  /** Opens the service for a request; throw to refuse it (`bad-request`). */
  open(request: unknown, peer: PeerId): Promise<ChunkSource>
  /** Chunks a payer may owe at once (default 1: principle 3). */
  maxUnpaidChunks?: number
  /** Ban a peer whose payment the payee rejected (forged, replayed...). Default true. */
  banOnBadPayment?: boolean
  idleTimeoutMs?: number
  logger: Logger
}

export interface ExchangeServer {
  readonly protocol: string
  stats(): ExchangeServerStats
  stop(): Promise<void>
}

/**
 * Serves a client-pays exchange on `transport`.
 *
 * @example
 * ```ts
 * const server = await serveExchange(t, { payee, logger, pricePerChunk: 1n, open: async () => source })
 * server.stats().chunksPaid
 * ```
 */
export async function serveExchange(transport: Transport, opts: ServeExchangeOptions): Promise<ExchangeServer> {
  const protocol = opts.protocol ?? EXCHANGE_PROTOCOL
  const log = opts.logger.child('exchange')
  const maxUnpaid = BigInt(opts.maxUnpaidChunks ?? 1)
  const idle = opts.idleTimeoutMs ?? EXCHANGE_IDLE_TIMEOUT_MS
  const st: ExchangeServerStats = { sessions: 0, chunksServed: 0, bytesServed: 0, chunksPaid: 0, credited: 0n, refused: {} }

  const refuse = async (stream: MessageStream, reason: RefuseReason, atChunk: number, fields: Record<string, unknown> = {}) => {
    st.refused[reason] = (st.refused[reason] ?? 0) + 1
    log.warn('refusing exchange', { peer: stream.remotePeer, reason, atChunk, ...fields })
    await sendMessage(stream, serverCodec, { header: { type: 'refuse', reason, atChunk }, body: new Uint8Array(0) }).catch(() => {})
  }

  await transport.handle(protocol, async (stream, peer) => {
    st.sessions++
    const first = await readMessage(stream, clientCodec, { timeoutMs: idle })
    if (first.type !== 'open') return refuse(stream, 'bad-request', 0, { detail: `expected open, got ${first.type}` })
    let source: ChunkSource
    let price: bigint
    try {
      price = typeof opts.pricePerChunk === 'bigint' ? opts.pricePerChunk : opts.pricePerChunk(first.request, peer)
      source = await opts.open(first.request, peer)
    } catch (e) {
      return refuse(stream, 'bad-request', 0, { detail: (e as Error).message.split('\n')[0] })
    }
    const paid = opts.payee !== undefined && price > 0n
    if (paid && !first.payer) { await source.close?.(); return refuse(stream, 'bad-request', 0, { detail: 'no payer address' }) }
    try {
      const terms = paid ? await opts.payee!.terms(first.payer!, price) : undefined
      await sendMessage(stream, serverCodec, { header: { type: 'terms', chunkCount: source.chunkCount, terms }, body: new Uint8Array(0) })
      let credited = 0n
      let served = 0
      for (;;) {
        const msg = await readMessage(stream, clientCodec, { timeoutMs: idle })
        if (msg.type === 'open') return refuse(stream, 'out-of-order', served, { detail: 'second open' })
        let receipt: PaymentReceipt | undefined
        if (msg.payment) {
          if (!paid) return refuse(stream, 'bad-request', served, { detail: 'payment on a free session' })
          if (msg.payment.payer.toLowerCase() !== first.payer!.toLowerCase()) {
            await refuse(stream, 'wrong-payer', served)
            if (opts.banOnBadPayment !== false) await transport.ban(peer, 'payment from another payer')
            return
          }
          try {
            receipt = await opts.payee!.receive(msg.payment)
          } catch (e) {
            const reason = e instanceof PaymentRejectedError ? e.reason : 'error'
            await refuse(stream, 'bad-payment', served, { detail: reason })
            if (opts.banOnBadPayment !== false && e instanceof PaymentRejectedError) await transport.ban(peer, `payment rejected (${reason})`)
            return
          }
          credited += receipt.credited
          st.credited += receipt.credited
          st.chunksPaid = st.chunksPaid + (price > 0n ? Number(receipt.credited / price) : 0)
        }
        if (msg.type === 'done') {
          await sendMessage(stream, serverCodec, { header: { type: 'done', receipt }, body: new Uint8Array(0) })
          return
        }
        if (msg.index !== served) return refuse(stream, 'out-of-order', served, { detail: `asked ${msg.index}` })
        if (msg.index >= source.chunkCount) return refuse(stream, 'out-of-order', served, { detail: 'past the last chunk' })
        // Principle 3: serve chunk k only while the payer owes fewer than maxUnpaid chunks, counting this one.
        if (paid && credited < (BigInt(msg.index) + 1n - maxUnpaid) * price) return refuse(stream, 'unpaid', served, { owed: (BigInt(msg.index) * price - credited).toString() })
        const c = await source.chunk(msg.index)
        await sendMessage(stream, serverCodec, { header: { type: 'chunk', index: msg.index, receipt, meta: c.header }, body: c.body })
        served++
        st.chunksServed++
        st.bytesServed += c.body.length
      }
    } finally {
      await source.close?.()
    }
  })
  return {
    protocol,
    stats: () => ({ ...st, refused: { ...st.refused } }),
    stop: () => transport.unhandle(protocol),
  }
}

/** Options of {@link fetchExchange}. */
export interface FetchExchangeOptions {
  protocol?: string
  /** The payer side; omit for a free service. */
  payer?: PayerSide
  /** Reuse an open session with this server (keeps channels and nonces across fetches). */
  session?: PayerSession
  request: unknown
  /** Checks a chunk before it is paid for; false stops the session unpaid. */
  verify(index: number, body: Uint8Array, meta: Record<string, unknown> | undefined): boolean | Promise<boolean>
  /** Adversarial behaviour for tests and the simulator: stop paying after this many paid chunks. */
  stopPayingAfter?: number
  idleTimeoutMs?: number
  signal?: AbortSignal
  logger: Logger
}

/** A fetch that failed verification or ended early, with what was received. */
export class ExchangeError extends SoukError {
  override name = 'ExchangeError'
}

/**
 * Fetches every chunk of a client-pays exchange, paying each chunk after verifying it.
 *
 * @example
 * ```ts
 * const r = await fetchExchange(t, serverAddr, { payer, logger, request: { id: 'x' }, verify: (i, body) => check(i, body) })
 * ```
 */
export async function fetchExchange(transport: Transport, server: string, opts: FetchExchangeOptions): Promise<ExchangeResult & { session?: PayerSession }> {
  const protocol = opts.protocol ?? EXCHANGE_PROTOCOL
  const log = opts.logger.child('exchange')
  const idle = { timeoutMs: opts.idleTimeoutMs ?? EXCHANGE_IDLE_TIMEOUT_MS, signal: opts.signal }
  const stream = await transport.dial(server, protocol, idle)
  const out: ExchangeResult & { session?: PayerSession } = { chunks: [], headers: [], paid: 0n, bytes: 0 }
  const read = async (): Promise<{ header: ServerHeader; body: Uint8Array }> => readMessage(stream, serverCodec, idle)
  try {
    const payer = opts.payer
    await sendMessage(stream, clientCodec, { type: 'open', payer: payer?.address, request: opts.request }, idle)
    const t = await read()
    if (t.header.type === 'refuse') { out.refused = { reason: t.header.reason, atChunk: 0 }; return out }
    if (t.header.type !== 'terms') throw new ExchangeError(`Server sent ${t.header.type} instead of terms`, { code: 'EXCHANGE_PROTOCOL' })
    const terms = t.header.terms
    let session = opts.session
    if (terms && !session) {
      if (!payer) throw new ExchangeError('The server asks for payment but no payer was given', { code: 'EXCHANGE_NO_PAYER', hints: ['Pass `payer` (a PayerSide) to fetchExchange.'] })
      session = await payer.open(terms, { signal: opts.signal })
    } else if (terms && session) session.update(terms)
    out.session = session
    const price = terms?.pricePerChunk ?? 0n
    let pending: bigint = 0n // chunks received but not yet paid, as an amount
    let paidChunks = 0
    const pay = async () => {
      if (!session || pending === 0n) return undefined
      if (opts.stopPayingAfter !== undefined && paidChunks >= opts.stopPayingAfter) return undefined
      const p = await session.pay(pending, { signal: opts.signal })
      pending = 0n
      paidChunks++
      return p
    }
    const applyReceipt = (r: { credited: bigint; terms?: unknown } | undefined) => {
      if (!r) return
      out.paid += r.credited
      if (r.terms && session) session.update(r.terms as never)
    }
    for (let i = 0; i < t.header.chunkCount; i++) {
      const payment = await pay()
      await sendMessage(stream, clientCodec, { type: 'next', index: i, payment }, idle)
      const m = await read()
      if (m.header.type === 'refuse') { out.refused = { reason: m.header.reason, atChunk: m.header.atChunk }; log.info('server stopped the exchange', { server: stream.remotePeer, reason: m.header.reason }); return out }
      if (m.header.type !== 'chunk' || m.header.index !== i) throw new ExchangeError(`Expected chunk ${i}, got ${m.header.type}`, { code: 'EXCHANGE_PROTOCOL' })
      applyReceipt(m.header.receipt)
      if (!(await opts.verify(i, m.body, m.header.meta))) {
        log.warn('chunk failed verification: not paying, stopping', { server: stream.remotePeer, index: i })
        out.refused = { reason: 'chunk-failed-verification', atChunk: i }
        stream.abort(new ExchangeError('bad chunk'))
        return out
      }
      // a view into the frame, which the stream handed over and never reuses: no copy (a 1 MiB chunk copied was
      // ~4 % of paid delivery's CPU)
      out.chunks.push(m.body)
      out.headers.push(m.header.meta ?? {})
      out.bytes += m.body.length
      pending += price
    }
    await sendMessage(stream, clientCodec, { type: 'done', payment: await pay() }, idle)
    const d = await read()
    if (d.header.type === 'done') applyReceipt(d.header.receipt)
    return out
  } catch (e) {
    stream.abort(e as Error)
    if (e instanceof StreamClosedError || isProtocolViolation(e)) {
      log.warn('exchange ended early', { server: stream.remotePeer, reason: (e as Error).message.split('\n')[0] })
      out.refused = { reason: 'stream-ended', atChunk: out.chunks.length }
      return out
    }
    throw e
  } finally {
    releaseWhenRemoteEnds(stream, idle.timeoutMs) // done or refused: released once the server's handler returned
  }
}
