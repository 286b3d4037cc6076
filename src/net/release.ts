/**
 * Releasing a dialled stream. A transport releases a stream once both sides ended it; the dialler ends its side with
 * `close()`, but learns of the remote's end only by reading it. A dialler that closes after its last message and
 * never reads again leaves the stream (and its buffers) held by the transport for good: one per request, claim or
 * session, an unbounded leak on a long-running node.
 *
 * @example
 * ```ts
 * const reply = await request(stream, reqCodec, resCodec, msg)
 * releaseWhenRemoteEnds(stream) // the stream is released as soon as the server's handler returns
 * ```
 */
import type { MessageStream } from './types.js'

/** How long a dialler waits, in the background, for the remote's end before it resets the stream. */
export const REMOTE_END_TIMEOUT_MS = 10_000

/**
 * Closes our side if still open, then waits in the background for the remote's end (EOF), so the transport releases
 * the stream; a remote that sends more, or keeps its side open past `timeoutMs`, gets the stream reset. Never throws.
 *
 * @example
 * ```ts
 * releaseWhenRemoteEnds(stream, 5_000)
 * ```
 */
export function releaseWhenRemoteEnds(stream: MessageStream, timeoutMs = REMOTE_END_TIMEOUT_MS): void {
  if (stream.closed) return
  void (async () => {
    await stream.close()
    try {
      await stream.read({ timeoutMs })
    } catch { /* eof (released), or a failure: reset below if still held */ }
    if (!stream.closed) stream.abort()
  })().catch(() => {})
}
