/**
 * yamux (`/yamux/1.0.0`, @chainsafe/libp2p-yamux 7.0.4) tuned for bulk transfer, on the same wire as stock yamux.
 *
 * Stock js-yamux limits a bulk stream in two ways (found with `node --cpu-prof`, see docs/net.md "Speed"):
 *
 * 1. **A window update for every chunk read.** Each chunk the reader takes sends a 12-byte window-update frame
 *    back, which noise encrypts as its own message and TCP writes as its own segment: one extra encrypt, decrypt,
 *    socket write and read per ~64 KiB of payload. Its window never grows past 256 KiB on loopback either (growth
 *    needs a measured RTT > 0 ms). Here the receive window is {@link LIBP2P_STREAM_WINDOW_BYTES}, granted in the
 *    first window update (a delta over the spec's initial 256 KiB, as go-yamux does), and an update is sent only
 *    once half of it has been read (as go-yamux does).
 * 2. **Two noise messages per yamux frame.** A 64 KiB yamux frame (header included) is larger than one noise
 *    message's payload (65,535 − 16 tag bytes), so every frame was split into a 65,519-byte and a 17-byte message.
 *    Frames here are at most {@link YAMUX_MAX_FRAME_BYTES}: one noise message each.
 *
 * Both are local choices every yamux peer accepts (a receiver only checks that a sender stays inside the window it
 * granted); a stock peer interoperates both ways (tested in yamux.test.ts). The window tuning reaches into
 * `YamuxStream` internals of the pinned version: if they are not there (another version), streams keep stock
 * behaviour and {@link yamuxWindowTuningActive} says so.
 */
import { yamux } from '@chainsafe/libp2p-yamux'
import type { StreamMuxerFactory, StreamMuxerInit, StreamMuxer } from '@libp2p/interface'

/** Largest yamux frame, header included: exactly one noise message's payload (65,535 − 16 bytes of tag). */
export const YAMUX_MAX_FRAME_BYTES = 65_535 - 16
/**
 * Receive window per libp2p stream: bytes a peer may send before we have read them. Holds a 1 MiB chunk and its
 * framing, so a stop-and-wait exchange never waits for a window update mid-chunk. Bounds memory per stream (a peer
 * filling 256 inbound streams without us reading: 512 MiB; stock yamux may grow to 16 MiB per stream).
 */
export const LIBP2P_STREAM_WINDOW_BYTES = 2 * 1024 * 1024

/** The spec's initial window, which the peer assumes until our first window update. */
const YAMUX_INITIAL_WINDOW = 256 * 1024
/** yamux frame type of a window update (spec: 0 data, 1 window update, 2 ping, 3 go away). */
const WINDOW_UPDATE = 1

/** The YamuxStream internals the tuning uses (private in its typings). */
interface YamuxStreamInternals {
  _id: number
  recvWindow: number
  recvWindowCapacity: number
  getSendFlags(): number
  sendFrame(header: { type: number; flag: number; streamID: number; length: number }): void
  sendWindowUpdate(): void
}

let tuningActive: boolean | undefined

/** True once a stream has been tuned, false if the pinned yamux's internals were missing (stock behaviour), undefined before the first stream. */
export function yamuxWindowTuningActive(): boolean | undefined { return tuningActive }

function hasInternals(s: unknown): s is YamuxStreamInternals {
  const x = s as Partial<YamuxStreamInternals>
  return typeof x._id === 'number' && typeof x.recvWindow === 'number' && typeof x.recvWindowCapacity === 'number' &&
    typeof x.getSendFlags === 'function' && typeof x.sendFrame === 'function' && typeof x.sendWindowUpdate === 'function'
}

/** Replaces one stream's window-update policy: a window of `windowBytes`, updated when half of it has been read. */
function tuneStream(s: unknown, windowBytes: number): void {
  if (!hasInternals(s) || s.recvWindowCapacity !== YAMUX_INITIAL_WINDOW) { tuningActive = false; return }
  tuningActive = true
  s.recvWindow = windowBytes
  s.sendWindowUpdate = function (this: YamuxStreamInternals) {
    const flags = this.getSendFlags() // SYN or ACK the first time (state changes as a side effect), then 0
    const delta = this.recvWindow - this.recvWindowCapacity
    if (flags === 0 && delta < this.recvWindow / 2) return
    this.recvWindowCapacity = this.recvWindow
    this.sendFrame({ type: WINDOW_UPDATE, flag: flags, streamID: this._id, length: delta })
  }
}

export interface TunedYamuxOptions {
  /** Receive window per stream (default {@link LIBP2P_STREAM_WINDOW_BYTES}; at least 512 KiB). */
  windowBytes?: number
}

/** A yamux muxer factory for libp2p's `streamMuxers`, with the tuning above. */
export function tunedYamux(opts: TunedYamuxOptions = {}): ReturnType<typeof yamux> {
  const windowBytes = opts.windowBytes ?? LIBP2P_STREAM_WINDOW_BYTES
  if (!Number.isInteger(windowBytes) || windowBytes < 2 * YAMUX_INITIAL_WINDOW || windowBytes > 2 ** 32 - 1) {
    throw new RangeError(`tunedYamux: windowBytes must be an integer from ${2 * YAMUX_INITIAL_WINDOW} to 2^32 - 1, got ${windowBytes}`)
  }
  const stock = yamux({ maxMessageSize: YAMUX_MAX_FRAME_BYTES, maxStreamWindowSize: windowBytes })
  return (components) => {
    const factory: StreamMuxerFactory = stock(components)
    const create = factory.createStreamMuxer.bind(factory)
    factory.createStreamMuxer = (init?: StreamMuxerInit): StreamMuxer => {
      const muxer = create(init) as StreamMuxer & { _newStream?: (...a: unknown[]) => unknown }
      const newStream = muxer._newStream
      if (typeof newStream !== 'function') { tuningActive = false; return muxer }
      muxer._newStream = function (this: unknown, ...args: unknown[]) {
        const s = newStream.apply(this, args)
        tuneStream(s, windowBytes)
        return s
      }
      return muxer
    }
    return factory
  }
}
