/**
 * noise (`/noise`, Noise_XX_25519_ChaChaPoly_SHA256, @chainsafe/libp2p-noise 16.1.5) with a leaner transport phase,
 * on the same wire as stock noise.
 *
 * The handshake, the keys, the nonces and the cipher are stock: chacha20-poly1305 already runs on node:crypto for
 * messages of 1,200 bytes and more (WebAssembly below), which is as fast as this machine does it (~1.7 GB/s
 * encrypting, ~2 GB/s decrypting 64 KiB messages). What changes is the framing after the handshake:
 *
 * - **Receiving**, stock noise copies each message's ciphertext into one contiguous buffer (`dst`, for an in-place
 *   WebAssembly decrypt) before node:crypto, which ignores it, decrypts into a new buffer. A 65,537-byte message
 *   never fits one 64 KiB socket read, so that is a copy of every byte received. Here the message is decrypted from
 *   its pieces where they lie, and the length prefixes are parsed in place (no it-length-prefixed stage).
 * - **Sending**, the messages of one chunk from the muxer (all the frames it has queued) are laid out in one buffer,
 *   length prefixes included, and handed to the socket as one write: stock wraps each message in a list the TCP
 *   sink then concatenates, and writes each on its own (a syscall and a wait for `drain` per 64 KiB).
 *
 * Messages are `[u16 big-endian length][ciphertext with its 16-byte tag]`, at most 65,535 bytes, as stock. If the
 * pinned noise no longer has the method this replaces, connections keep the stock transport phase.
 */
import { noise, type NoiseInit } from '@chainsafe/libp2p-noise'
import { Uint8ArrayList } from 'uint8arraylist'

/** Largest noise message (ciphertext and tag), from the spec. */
const NOISE_MAX_MESSAGE_BYTES = 65_535
const TAG_BYTES = 16
const MAX_PLAINTEXT_BYTES = NOISE_MAX_MESSAGE_BYTES - TAG_BYTES

type Chunk = Uint8Array | Uint8ArrayList
interface Handshake {
  encrypt(plaintext: Chunk): Chunk
  decrypt(ciphertext: Chunk, dst?: Uint8Array): Chunk
}
interface Counter { increment(): void }
interface NoiseMetrics { encryptedPackets?: Counter; decryptedPackets?: Counter; decryptErrors?: Counter }
interface Network { source: AsyncIterable<Chunk>; sink(source: AsyncIterable<Chunk>): Promise<void> }
interface NoiseInternals {
  metrics?: NoiseMetrics
  createSecureConnection(connection: { unwrap(): Network }, handshake: Handshake): Promise<{ source: AsyncIterable<Chunk>; sink(source: AsyncIterable<Chunk>): Promise<void> }>
}

let leanActive: boolean | undefined
/** True if connections use the lean transport phase, false if the pinned noise lacked what it replaces, undefined before the first node. */
export function noiseLeanFramingActive(): boolean | undefined { return leanActive }

/** Bytes of noise messages gathered into one socket write at most (the messages of one chunk from the muxer). */
export const NOISE_WRITE_BATCH_BYTES = 1024 * 1024

/**
 * Encrypts a plaintext stream into noise messages. The messages of one source chunk (the muxer hands over every
 * frame it has queued as one chunk) go out as one buffer of up to {@link NOISE_WRITE_BATCH_BYTES}: one socket write
 * instead of one per 64 KiB message.
 */
export function encryptMessages(handshake: Handshake, metrics?: NoiseMetrics) {
  return async function* (source: AsyncIterable<Chunk>): AsyncGenerator<Uint8Array> {
    const batch: Chunk[] = []
    let batchBytes = 0
    const flush = (): Uint8Array => {
      const out = new Uint8Array(batchBytes)
      let off = 0
      for (const data of batch) {
        out[off] = data.byteLength >>> 8
        out[off + 1] = data.byteLength & 0xff
        off += 2
        if (data instanceof Uint8Array) { out.set(data, off); off += data.byteLength } else for (const b of data) { out.set(b, off); off += b.byteLength }
      }
      batch.length = 0
      batchBytes = 0
      return out
    }
    for await (const chunk of source) {
      for (let i = 0; i < chunk.length; i += MAX_PLAINTEXT_BYTES) {
        const end = Math.min(i + MAX_PLAINTEXT_BYTES, chunk.length)
        const data = handshake.encrypt(chunk instanceof Uint8Array ? chunk.subarray(i, end) : chunk.sublist(i, end))
        metrics?.encryptedPackets?.increment()
        batch.push(data)
        batchBytes += 2 + data.byteLength
        if (batchBytes >= NOISE_WRITE_BATCH_BYTES - (2 + NOISE_MAX_MESSAGE_BYTES)) yield flush()
      }
      if (batchBytes > 0) yield flush()
    }
  }
}

/** Parses noise messages from a byte stream and decrypts each from its pieces (no contiguous copy of the ciphertext). */
export function decryptMessages(handshake: Handshake, metrics?: NoiseMetrics) {
  return async function* (source: AsyncIterable<Chunk>): AsyncGenerator<Chunk> {
    const buf = new Uint8ArrayList()
    for await (const chunk of source) {
      buf.append(chunk)
      while (buf.byteLength >= 2) {
        const len = buf.getUint16(0)
        if (buf.byteLength < 2 + len) break
        if (len === 0) { buf.consume(2); continue } // stock noise skips empty messages too
        if (len < TAG_BYTES) throw new Error('Invalid chunk')
        const ciphertext = buf.sublist(2, 2 + len)
        buf.consume(2 + len)
        let plaintext: Chunk
        try {
          plaintext = handshake.decrypt(ciphertext)
        } catch (e) {
          metrics?.decryptErrors?.increment()
          throw e
        }
        metrics?.decryptedPackets?.increment()
        yield plaintext
      }
    }
    if (buf.byteLength > 0) throw new Error('Unexpected end of input')
  }
}

/** A noise connection encrypter for libp2p's `connectionEncrypters`: stock handshake, lean transport phase (above). */
export function leanNoise(init: NoiseInit = {}): ReturnType<typeof noise> {
  const stock = noise(init)
  return (components) => {
    const enc = stock(components)
    const x = enc as unknown as Partial<NoiseInternals>
    if (typeof x.createSecureConnection !== 'function' || x.createSecureConnection.length !== 2) { leanActive = false; return enc }
    leanActive = true
    x.createSecureConnection = async function (this: NoiseInternals, connection, handshake) {
      // unwrap() returns the connection object itself, whose source and sink the caller replaces with the ones
      // returned here: take the network's own now.
      const network = connection.unwrap()
      const netSource = network.source, netSink = network.sink.bind(network)
      const metrics = this.metrics
      return {
        source: decryptMessages(handshake, metrics)(netSource),
        sink: async (source) => { await netSink(encryptMessages(handshake, metrics)(source)) },
      }
    }
    return enc
  }
}
