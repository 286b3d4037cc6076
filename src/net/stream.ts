/**
 * Internal: the one `MessageStream` implementation both transports share. A transport supplies a `StreamBackend`
 * (pull a frame, send a frame, half-close, reset); this class adds state, size caps, deadlines and error mapping,
 * so both transports behave the same way under the compliance suite.
 */
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/logger.js'
import { AbortedError, MessageTooLargeError, NetError, StreamClosedError, TimeoutError, isProtocolViolation } from './errors.js'
import type { AbortOptions, MessageStream, PeerId, StreamHandler } from './types.js'

export interface StreamBackend {
  /** Next frame, `null` on a clean end of the remote's writing side; rejects with a `NetError` on failure. */
  pull(): Promise<Uint8Array | null>
  /** Sends one frame, whole or as parts to concatenate (types and size already checked). */
  send(frame: Uint8Array | readonly Uint8Array[]): Promise<void>
  /** Ends our writing side gracefully. */
  sendClose(): Promise<void>
  /** Resets the stream (both directions); must not throw. */
  sendReset(err: Error): void
  /** Releases resources after the stream finished normally (both sides done, or handler returned). */
  release(): void
  /** Optional: told when the stream was cut from outside (remote reset, peer vanished, ban, stop). */
  gone?(err: StreamClosedError): void
}

/**
 * Races `p` against `opts.signal` and `opts.timeoutMs` (on `clock`). Rejects with `AbortedError` or `TimeoutError`;
 * `p` itself is left running (the caller decides what a lost race means).
 */
export function withDeadline<T>(p: Promise<T>, opts: AbortOptions | undefined, clock: Clock, what: string, ctx: { peer?: string; protocol?: string } = {}): Promise<T> {
  const signal = opts?.signal
  const timeoutMs = opts?.timeoutMs
  if (!signal && timeoutMs === undefined) return p
  if (signal?.aborted) return Promise.reject(new AbortedError(what, { cause: signal.reason }))
  return new Promise<T>((resolve, reject) => {
    let cancelTimer: (() => void) | undefined
    const cleanup = () => { cancelTimer?.(); signal?.removeEventListener('abort', onAbort) }
    const onAbort = () => { cleanup(); reject(new AbortedError(what, { cause: signal!.reason })) }
    signal?.addEventListener('abort', onAbort, { once: true })
    if (timeoutMs !== undefined) cancelTimer = clock.setTimer(timeoutMs, () => { cleanup(); reject(new TimeoutError(what, timeoutMs, ctx)) })
    p.then((v) => { cleanup(); resolve(v) }, (e) => { cleanup(); reject(e) })
  })
}

const isDeadlineError = (e: unknown) => e instanceof TimeoutError || e instanceof AbortedError

export class FramedStream implements MessageStream {
  private pending: Promise<Uint8Array | null> | undefined
  private readErr: Error | undefined
  private readEof = false
  private writeDone = false
  private aborted: StreamClosedError | undefined
  private released = false

  constructor(
    readonly remotePeer: PeerId,
    readonly protocol: string,
    readonly maxMessageBytes: number,
    private readonly backend: StreamBackend,
    private readonly clock: Clock,
    private readonly onDone: (s: FramedStream) => void,
  ) {}

  get closed(): boolean {
    return this.aborted !== undefined || this.released || ((this.readEof || this.readErr !== undefined) && this.writeDone)
  }

  private ctx() { return { peer: this.remotePeer, protocol: this.protocol } }

  async read(opts?: AbortOptions): Promise<Uint8Array> {
    const f = await this.readOrEnd(opts)
    if (f === null) throw new StreamClosedError('eof', this.ctx())
    return f
  }

  /** Like `read`, but resolves `null` on a clean end instead of throwing. */
  async readOrEnd(opts?: AbortOptions): Promise<Uint8Array | null> {
    if (this.aborted) throw this.aborted
    if (this.readErr) throw this.readErr
    if (this.readEof) return null
    if (!this.pending) {
      const p = this.backend.pull()
      p.catch(() => {})
      this.pending = p
    }
    const p = this.pending
    let frame: Uint8Array | null
    try {
      frame = await withDeadline(p, opts, this.clock, `Reading from ${this.remotePeer} on ${this.protocol}`, this.ctx())
    } catch (e) {
      if (isDeadlineError(e) && this.pending === p && !this.aborted) throw e // the frame stays pending for the next read
      if (this.pending === p) this.pending = undefined
      if (this.aborted) throw this.aborted
      const err = this.mapError(e)
      this.readErr = err
      if (err instanceof MessageTooLargeError) this.abort(err)
      this.maybeDone()
      throw err
    }
    if (this.pending === p) this.pending = undefined
    if (frame === null) {
      this.readEof = true
      this.maybeDone()
      return null
    }
    if (frame.length > this.maxMessageBytes) {
      // A backend that cannot check the length prefix early (memory) lands here; libp2p checks before buffering.
      const err = new MessageTooLargeError(frame.length, this.maxMessageBytes, { what: 'Frame', ...this.ctx() })
      this.readErr = err
      this.abort(err)
      throw err
    }
    return frame
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const f = await this.readOrEnd()
      if (f === null) return
      yield f
    }
  }

  async write(frame: Uint8Array | readonly Uint8Array[], opts?: AbortOptions): Promise<void> {
    if (this.aborted) throw this.aborted
    if (this.writeDone) throw new StreamClosedError('local', { ...this.ctx(), detail: 'write after close()' })
    let size = 0
    if (Array.isArray(frame)) {
      for (const p of frame) {
        if (!(p instanceof Uint8Array)) throw new TypeError(`write: each part of a frame must be a Uint8Array, got ${typeof p}`)
        size += p.length
      }
    } else if (frame instanceof Uint8Array) size = frame.length
    else throw new TypeError(`write: frame must be a Uint8Array or an array of them, got ${typeof frame}`)
    if (size > this.maxMessageBytes) throw new MessageTooLargeError(size, this.maxMessageBytes, { what: 'Frame to send', ...this.ctx() })
    try {
      await withDeadline(this.backend.send(frame), opts, this.clock, `Writing to ${this.remotePeer} on ${this.protocol}`, this.ctx())
    } catch (e) {
      if (this.aborted) throw this.aborted
      const err = this.mapError(e)
      // A write cut short may have left half a frame on the wire: the stream cannot continue.
      this.abort(err)
      throw err
    }
  }

  async close(opts?: AbortOptions): Promise<void> {
    if (this.writeDone || this.aborted) return
    this.writeDone = true
    try {
      await withDeadline(this.backend.sendClose(), opts, this.clock, `Closing stream to ${this.remotePeer}`, this.ctx())
    } catch (e) {
      this.abort(this.mapError(e))
    }
    this.maybeDone()
  }

  abort(err?: Error): void {
    if (this.aborted || this.released) return
    this.aborted = err instanceof StreamClosedError ? err : new StreamClosedError('local', { ...this.ctx(), cause: err, detail: err?.message.split('\n')[0] })
    this.writeDone = true
    this.backend.sendReset(err ?? this.aborted)
    this.onDone(this)
  }

  /** Called by the transport when the remote reset the stream or vanished: fails pending and future operations. */
  remoteGone(err: StreamClosedError): void {
    if (this.aborted || this.released) return
    this.aborted = err
    this.writeDone = true
    this.backend.gone?.(err)
    this.onDone(this)
  }

  /** Called when a handler returned: close our side and release the stream. */
  async finish(): Promise<void> {
    await this.close()
    if (!this.aborted && !this.released) {
      this.released = true
      this.backend.release()
      this.onDone(this)
    }
  }

  private maybeDone(): void {
    if (this.closed && !this.released && !this.aborted) {
      this.released = true
      this.backend.release()
      this.onDone(this)
    }
  }

  private mapError(e: unknown): NetError {
    if (e instanceof NetError) return e
    return new StreamClosedError('reset', { ...this.ctx(), cause: e, detail: e instanceof Error ? e.message.split('\n')[0] : String(e) })
  }
}

/** Runs an inbound-stream handler: logs failures with a clear reason, resets the stream, reports violations. */
export async function runHandler(
  handler: StreamHandler,
  stream: FramedStream,
  log: Logger,
  onViolation: (peer: PeerId, err: Error) => void,
): Promise<void> {
  try {
    await handler(stream, stream.remotePeer)
    await stream.finish()
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e))
    const fields = { peer: stream.remotePeer, protocol: stream.protocol, code: (err as NetError).code, reason: err.message.split('\n')[0] }
    if (isProtocolViolation(err)) log.warn('dropping stream: peer broke the protocol', fields)
    else if (err instanceof StreamClosedError) log.info('stream ended early', fields)
    // An idle or stalled peer is the peer's business, not a failure of ours: below ERROR.
    else if (err instanceof TimeoutError) log.info('stream timed out waiting for the peer', fields)
    else log.error('stream handler failed', fields)
    stream.abort(err)
    if (isProtocolViolation(err)) onViolation(stream.remotePeer, err)
  }
}
