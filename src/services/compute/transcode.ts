/**
 * The compute market's real work: transcoding segments of a video into target profiles with sharp (libvips), the
 * checks that catch fake renditions (Livepeer's hole: black or garbage frames and wrong resolutions passing), the
 * adversarial renditions the tests and adversary roles use, and the sharp-alone baseline of the benchmark.
 *
 * Spec (souk.compute.transcode v1):
 * - **Test video**: {@link generateFrames} draws raw RGB frames (a moving gradient, a moving box and a moving disc,
 *   plus seeded grain) that depend only on `(width, height, seed, frame index)`; frame `i` of unit `u` with `F`
 *   frames a unit is video frame `u·F + i` ({@link unitInput}).
 * - **Unit input** (a segment), all integers big-endian: `"SKSG"` ‖ u8 version (1) ‖ u8 channels (3) ‖ u16 0 ‖
 *   u32 width ‖ u32 height ‖ u32 frames ‖ frames × (width·height·channels raw bytes, row-major, RGB interleaved).
 *   The length must be exact. {@link encodeSegment} / {@link decodeSegment}; malformed input throws
 *   {@link MalformedSegmentError} with a `problem` a caller can switch on.
 * - **Unit output** (a rendition): `"SKRN"` ‖ u8 version (1) ‖ u8 format (1 jpeg, 2 webp, 3 png) ‖ u16 0 ‖ u32 width ‖
 *   u32 height ‖ u32 frames ‖ frames × (u32 length ‖ encoded image). {@link encodeRendition} / {@link decodeRendition}.
 *   The header is the worker's claim; {@link checkOutput} never trusts it and reads each frame's own metadata.
 * - **Profile**: `{ name, width, height, format, quality }` ({@link TranscodeProfileSchema}); every frame is resized
 *   to exactly `width × height` (`fit: 'fill'`, lanczos3) and encoded with pinned encoder options
 *   ({@link encoderOptions}). {@link profileHash} = keccak256 of the profile's canonical JSON (keys in that order), the
 *   `profile` word of the contract's terms.
 * - **Determinism**: the same input and profile give the same bytes on every run and thread count (tested), so the
 *   Merkle leaf's outputHash of an honest worker equals a verifier's re-execution; {@link checkOutput} still accepts
 *   outputs that are not byte-exact when every frame is within `minPsnrDb` of the re-execution.
 * - **Threads**: libvips' thread count is process-wide (`sharp.concurrency`). Nothing here changes it; a process that
 *   transcodes calls {@link configureSharp} once (default 1 thread, no operation cache: measured on 2 shared cores,
 *   1080p→720p JPEG: 20 ms/frame with 1 thread one frame at a time, ~15-17 ms with 2 threads or 2 frames in flight).
 *
 * @example
 * ```ts
 * import { configureSharp, unitInput, transcodeSegment, checkOutput, blackOutput, PROFILE_720P_JPEG } from './src/services/compute/transcode.js'
 * configureSharp({ threads: 1 })
 * const input = unitInput({ width: 1920, height: 1080, framesPerUnit: 4, unit: 0, seed: 7 })
 * const output = await transcodeSegment(input, PROFILE_720P_JPEG)            // 4 JPEGs of 1280x720, the same bytes on every run
 * await checkOutput(input, output, PROFILE_720P_JPEG)                         // { ok: true, exact: true, minPsnrDb: Infinity }
 * await checkOutput(input, await blackOutput(input, PROFILE_720P_JPEG), PROFILE_720P_JPEG) // { ok: false, reason: 'perceptual', … }
 * ```
 */
import sharp, { type JpegOptions, type Metadata, type PngOptions, type Sharp, type WebpOptions } from 'sharp'
import { z } from 'zod'
import { SoukError, type SoukErrorOptions } from '../../core/errors.js'
import { keccak256 } from '../../crypto/keccak.js'
import { bytesToHex } from '../../crypto/bytes.js'
import type { Hex } from 'viem'

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** Base of the transcoding errors. */
export class TranscodeError extends SoukError {
  override name = 'TranscodeError'
  constructor(shortMessage: string, opts: SoukErrorOptions = {}) {
    super(shortMessage, { code: 'COMPUTE_TRANSCODE', ...opts })
  }
}

export type MalformedSegmentProblem = 'too-short' | 'bad-magic' | 'bad-version' | 'bad-header' | 'bad-length' | 'bad-frame'

/** A unit input (segment) or output (rendition) container that does not parse. */
export class MalformedSegmentError extends TranscodeError {
  override name = 'MalformedSegmentError'
  constructor(readonly container: 'segment' | 'rendition', readonly problem: MalformedSegmentProblem, detail: string, opts: SoukErrorOptions = {}) {
    super(`Malformed ${container} (${problem}): ${detail}`, { code: 'COMPUTE_MALFORMED_SEGMENT', details: { container, problem }, ...opts })
  }
}

/** A transcoding profile that fails {@link TranscodeProfileSchema}. */
export class TranscodeProfileError extends TranscodeError {
  override name = 'TranscodeProfileError'
  constructor(detail: string, opts: SoukErrorOptions = {}) {
    super(`Invalid transcoding profile: ${detail}`, { code: 'COMPUTE_PROFILE', hints: ['Use one of TRANSCODE_PRESETS or fix the field named above.'], ...opts })
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Limits

/** Largest frame side accepted (8K): bounds memory per frame at 8192² × 3 = 192 MiB before a caller's own caps. */
export const COMPUTE_MAX_SIDE = 8192
/** Most frames in one unit: a segment is a few seconds of video, not a film. */
export const COMPUTE_MAX_FRAMES_PER_UNIT = 1024
/** Largest encoded frame accepted in a rendition (an 8K PNG of noise stays under it). */
export const COMPUTE_MAX_ENCODED_FRAME_BYTES = 256 * 1024 * 1024
/** Default PSNR threshold of {@link checkOutput}: honest JPEG/WebP q70-q95 variants of the test video scored 35.3-40 dB here, black, grey, copied and noise renditions 5-16 dB. */
export const DEFAULT_MIN_PSNR_DB = 30
/** A frame whose standard deviation (over all samples) is below this is "constant" (black, grey, a flat fill). */
export const CONSTANT_FRAME_STDDEV = 2

const SEGMENT_MAGIC = [0x53, 0x4b, 0x53, 0x47] // "SKSG"
const RENDITION_MAGIC = [0x53, 0x4b, 0x52, 0x4e] // "SKRN"
const CONTAINER_VERSION = 1
const HEADER_BYTES = 20

// ---------------------------------------------------------------------------------------------------------------
// Test video

export interface GenerateFramesParameters {
  width: number
  height: number
  /** Number of frames to draw. */
  frames: number
  /** Any integer or string: the same seed gives the same frames. */
  seed: number | string
  /** Index of the first frame in the video (default 0): frame `start + i` is drawn. */
  start?: number
  /** Amplitude of the grain, 0..64 (default 8): samples move by a uniform integer in [-noise, noise]. */
  noise?: number
}

function seed32(seed: number | string): number {
  if (typeof seed === 'number') {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer or a string, got ${seed}`)
    return (seed ^ Math.floor(seed / 2 ** 32)) >>> 0
  }
  let h = 0x811c9dc5 // FNV-1a
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193) >>> 0
  return h
}

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d)
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b)
  return (x ^ (x >>> 16)) >>> 0
}

function paintSpan(buf: Uint8Array, row: number, x0: number, x1: number, rgb: number[]): void {
  for (let x = x0, i = row + x0 * 3; x < x1; x++, i += 3) { buf[i] = rgb[0]; buf[i + 1] = rgb[1]; buf[i + 2] = rgb[2] }
}

function checkSide(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1 || v > COMPUTE_MAX_SIDE) throw new RangeError(`${name} must be an integer in [1, ${COMPUTE_MAX_SIDE}], got ${v}`)
}

/**
 * Raw RGB frames of the deterministic test video (`width·height·3` bytes each). Costs about 20 ms a 1080p frame once warm
 * here (one integer pass; the grain from xorshift32 seeded per frame).
 */
export function generateFrames(p: GenerateFramesParameters): Uint8Array[] {
  checkSide('width', p.width)
  checkSide('height', p.height)
  if (!Number.isInteger(p.frames) || p.frames < 0 || p.frames > 1 << 20) throw new RangeError(`frames must be an integer in [0, 2^20], got ${p.frames}`)
  const start = p.start ?? 0
  if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`start must be a non-negative integer, got ${start}`)
  const noise = p.noise ?? 8
  if (!Number.isInteger(noise) || noise < 0 || noise > 64) throw new RangeError(`noise must be an integer in [0, 64], got ${noise}`)
  const { width: w, height: h } = p
  const s = seed32(p.seed)
  const base = mix32(s ^ 0x5eed)
  // Scene constants from the seed: the colours and speeds of the box and the disc.
  const boxRgb = [mix32(base + 1) & 255, mix32(base + 2) & 255, mix32(base + 3) & 255]
  const discRgb = [mix32(base + 4) & 255, mix32(base + 5) & 255, mix32(base + 6) & 255]
  const boxW = Math.max(1, Math.floor(w / 5)), boxH = Math.max(1, Math.floor(h / 4))
  const r = Math.max(1, Math.floor(Math.min(w, h) / 6))
  const span = 2 * noise + 1
  const gx = 256 / w, gy = 256 / h
  const out: Uint8Array[] = []
  for (let f = 0; f < p.frames; f++) {
    const t = start + f
    const buf = new Uint8Array(w * h * 3)
    const bx = Math.floor(((t * 7 + (base & 1023)) % (w + boxW))) - boxW
    const by = Math.floor(h / 2 + (h / 4) * Math.sin(t / 9 + (base & 7)) - boxH / 2)
    const cx = Math.floor(w / 2 + (w / 3) * Math.cos(t / 13)), cy = Math.floor(h / 2 + (h / 3) * Math.sin(t / 11))
    let x32 = mix32(s + Math.imul(t + 1, 0x9e3779b1)) | 1
    const rOff = (3 * t) & 255, gOff = (2 * t) & 255, bXor = t & 63
    for (let y = 0; y < h; y++) {
      const row = y * w * 3
      const gyv = (y * gy) | 0
      const G = (gyv + gOff) & 255
      // The gradient, then the box and the disc painted over it (row spans, no per-pixel shape test).
      for (let x = 0, i = row; x < w; x++, i += 3) {
        const gxv = (x * gx) | 0
        buf[i] = (gxv + rOff) & 255
        buf[i + 1] = G
        buf[i + 2] = ((gxv + gyv) >> 1) ^ bXor
      }
      if (y >= by && y < by + boxH) paintSpan(buf, row, Math.max(0, bx), Math.min(w, bx + boxW), boxRgb)
      const dy = y - cy
      if (dy * dy <= r * r) {
        const half = Math.floor(Math.sqrt(r * r - dy * dy))
        paintSpan(buf, row, Math.max(0, cx - half), Math.min(w, cx + half + 1), discRgb)
      }
      if (noise > 0) {
        for (let i = row, end = row + w * 3; i < end; i += 3) {
          x32 ^= x32 << 13; x32 ^= x32 >>> 17; x32 ^= x32 << 5
          const n = (((x32 >>> 16) * span) >>> 16) - noise
          const R = buf[i] + n, Gn = buf[i + 1] + n, B = buf[i + 2] + n
          buf[i] = R < 0 ? 0 : R > 255 ? 255 : R
          buf[i + 1] = Gn < 0 ? 0 : Gn > 255 ? 255 : Gn
          buf[i + 2] = B < 0 ? 0 : B > 255 ? 255 : B
        }
      }
    }
    out.push(buf)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Segment (unit input) container

export interface Segment {
  width: number
  height: number
  /** 3 (RGB) in v1. */
  channels: 3
  /** Raw frames, `width·height·channels` bytes each (views into the decoded bytes). */
  frames: Uint8Array[]
}

function writeHeader(out: Uint8Array, magic: number[], byte5: number, width: number, height: number, frames: number): void {
  out.set(magic, 0)
  out[4] = CONTAINER_VERSION
  out[5] = byte5
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength)
  v.setUint16(6, 0)
  v.setUint32(8, width)
  v.setUint32(12, height)
  v.setUint32(16, frames)
}

function readHeader(b: Uint8Array, container: 'segment' | 'rendition', magic: number[]): { byte5: number; width: number; height: number; frames: number; view: DataView } {
  if (!(b instanceof Uint8Array)) throw new MalformedSegmentError(container, 'too-short', 'not a byte array')
  if (b.length < HEADER_BYTES) throw new MalformedSegmentError(container, 'too-short', `${b.length} bytes, the header alone is ${HEADER_BYTES}`)
  for (let i = 0; i < 4; i++) if (b[i] !== magic[i]) throw new MalformedSegmentError(container, 'bad-magic', `expected ${String.fromCharCode(...magic)}`)
  if (b[4] !== CONTAINER_VERSION) throw new MalformedSegmentError(container, 'bad-version', `version ${b[4]}, expected ${CONTAINER_VERSION}`)
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const width = view.getUint32(8), height = view.getUint32(12), frames = view.getUint32(16)
  if (view.getUint16(6) !== 0) throw new MalformedSegmentError(container, 'bad-header', 'reserved bytes are not zero')
  if (width < 1 || width > COMPUTE_MAX_SIDE || height < 1 || height > COMPUTE_MAX_SIDE) throw new MalformedSegmentError(container, 'bad-header', `size ${width}x${height} outside 1..${COMPUTE_MAX_SIDE}`)
  if (frames < 1 || frames > COMPUTE_MAX_FRAMES_PER_UNIT) throw new MalformedSegmentError(container, 'bad-header', `${frames} frames, expected 1..${COMPUTE_MAX_FRAMES_PER_UNIT}`)
  return { byte5: b[5], width, height, frames, view }
}

/** The unit input bytes of raw frames (see the spec above). Throws RangeError on frames of the wrong size. */
export function encodeSegment(s: { width: number; height: number; channels?: 3; frames: readonly Uint8Array[] }): Uint8Array {
  checkSide('width', s.width)
  checkSide('height', s.height)
  const channels = s.channels ?? 3
  if (channels !== 3) throw new RangeError(`channels must be 3, got ${channels}`)
  if (s.frames.length < 1 || s.frames.length > COMPUTE_MAX_FRAMES_PER_UNIT) throw new RangeError(`a segment has 1..${COMPUTE_MAX_FRAMES_PER_UNIT} frames, got ${s.frames.length}`)
  const frameBytes = s.width * s.height * channels
  const out = new Uint8Array(HEADER_BYTES + frameBytes * s.frames.length)
  writeHeader(out, SEGMENT_MAGIC, channels, s.width, s.height, s.frames.length)
  s.frames.forEach((f, i) => {
    if (f.length !== frameBytes) throw new RangeError(`frame ${i} has ${f.length} bytes, expected ${frameBytes} (${s.width}x${s.height}x${channels})`)
    out.set(f, HEADER_BYTES + i * frameBytes)
  })
  return out
}

/** Parses unit input bytes. Throws {@link MalformedSegmentError}. */
export function decodeSegment(b: Uint8Array): Segment {
  const h = readHeader(b, 'segment', SEGMENT_MAGIC)
  if (h.byte5 !== 3) throw new MalformedSegmentError('segment', 'bad-header', `channels ${h.byte5}, expected 3`)
  const frameBytes = h.width * h.height * 3
  const expected = HEADER_BYTES + frameBytes * h.frames
  if (b.length !== expected) throw new MalformedSegmentError('segment', 'bad-length', `${b.length} bytes, the header implies ${expected}`)
  const frames: Uint8Array[] = []
  for (let i = 0; i < h.frames; i++) frames.push(b.subarray(HEADER_BYTES + i * frameBytes, HEADER_BYTES + (i + 1) * frameBytes))
  return { width: h.width, height: h.height, channels: 3, frames }
}

/** The input bytes of unit `unit` of the test video: frames `[unit·F, (unit+1)·F)` as one segment. */
export function unitInput(p: { width: number; height: number; framesPerUnit: number; unit: number; seed: number | string; noise?: number }): Uint8Array {
  if (!Number.isSafeInteger(p.unit) || p.unit < 0) throw new RangeError(`unit must be a non-negative integer, got ${p.unit}`)
  const frames = generateFrames({ width: p.width, height: p.height, frames: p.framesPerUnit, seed: p.seed, start: p.unit * p.framesPerUnit, noise: p.noise })
  return encodeSegment({ width: p.width, height: p.height, frames })
}

// ---------------------------------------------------------------------------------------------------------------
// Profiles

export type TranscodeFormat = 'jpeg' | 'webp' | 'png'
const FORMAT_CODES: Record<TranscodeFormat, number> = { jpeg: 1, webp: 2, png: 3 }
const FORMAT_BY_CODE: Record<number, TranscodeFormat> = { 1: 'jpeg', 2: 'webp', 3: 'png' }

export const TranscodeProfileSchema = z.object({
  name: z.string().min(1).max(64),
  width: z.number().int().min(1).max(COMPUTE_MAX_SIDE),
  height: z.number().int().min(1).max(COMPUTE_MAX_SIDE),
  format: z.enum(['jpeg', 'webp', 'png']),
  /** 1..100: JPEG/WebP quality; ignored by PNG (lossless, zlib level 6). */
  quality: z.number().int().min(1).max(100),
}).strict()

export type TranscodeProfile = z.infer<typeof TranscodeProfileSchema>

export const PROFILE_720P_JPEG: TranscodeProfile = Object.freeze({ name: '720p-jpeg-q80', width: 1280, height: 720, format: 'jpeg', quality: 80 })
export const PROFILE_480P_WEBP: TranscodeProfile = Object.freeze({ name: '480p-webp-q75', width: 854, height: 480, format: 'webp', quality: 75 })
export const PROFILE_360P_JPEG: TranscodeProfile = Object.freeze({ name: '360p-jpeg-q75', width: 640, height: 360, format: 'jpeg', quality: 75 })
export const TRANSCODE_PRESETS: readonly TranscodeProfile[] = Object.freeze([PROFILE_720P_JPEG, PROFILE_480P_WEBP, PROFILE_360P_JPEG])

/** Validates a profile (throws {@link TranscodeProfileError}). */
export function parseProfile(p: unknown): TranscodeProfile {
  const r = TranscodeProfileSchema.safeParse(p)
  if (!r.success) {
    const issue = r.error.issues[0]
    throw new TranscodeProfileError(`${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`, { cause: r.error })
  }
  return r.data
}

/** keccak256 of the canonical JSON `{"name","width","height","format","quality"}` (in that order): terms' `profile`. */
export function profileHash(p: TranscodeProfile): Hex {
  const q = parseProfile(p)
  const json = JSON.stringify({ name: q.name, width: q.width, height: q.height, format: q.format, quality: q.quality })
  return bytesToHex(keccak256(new TextEncoder().encode(json)))
}

/**
 * The encoder options every honest worker uses (all pinned, so a rerun gives the same bytes): JPEG baseline 4:2:0
 * with optimised Huffman tables and no mozjpeg/trellis; WebP lossy, effort 4; PNG zlib 6, no palette. Metadata is
 * stripped (sharp's default). `quality` overrides the profile's (an allowed variation: see {@link checkOutput}).
 */
export function encoderOptions(p: TranscodeProfile, quality = p.quality): { format: TranscodeFormat; options: JpegOptions | WebpOptions | PngOptions } {
  switch (p.format) {
    case 'jpeg': return { format: 'jpeg', options: { quality, progressive: false, chromaSubsampling: '4:2:0', optimiseCoding: true, mozjpeg: false, trellisQuantisation: false, overshootDeringing: false, optimiseScans: false, quantisationTable: 0 } }
    case 'webp': return { format: 'webp', options: { quality, lossless: false, nearLossless: false, smartSubsample: false, smartDeblock: false, effort: 4, preset: 'default' } }
    case 'png': return { format: 'png', options: { compressionLevel: 6, adaptiveFiltering: false, palette: false, progressive: false } }
  }
}

function encodeWith(img: Sharp, p: TranscodeProfile, quality?: number): Sharp {
  const { format, options } = encoderOptions(p, quality)
  return format === 'jpeg' ? img.jpeg(options as JpegOptions) : format === 'webp' ? img.webp(options as WebpOptions) : img.png(options as PngOptions)
}

// ---------------------------------------------------------------------------------------------------------------
// Rendition (unit output) container

export interface Rendition {
  /** The format the header claims (checkOutput reads each frame's real one). */
  format: TranscodeFormat
  width: number
  height: number
  frames: Uint8Array[]
}

/** The unit output bytes: header + length-prefixed encoded frames. */
export function encodeRendition(r: Rendition): Uint8Array {
  checkSide('width', r.width)
  checkSide('height', r.height)
  if (r.frames.length < 1 || r.frames.length > COMPUTE_MAX_FRAMES_PER_UNIT) throw new RangeError(`a rendition has 1..${COMPUTE_MAX_FRAMES_PER_UNIT} frames, got ${r.frames.length}`)
  const total = HEADER_BYTES + r.frames.reduce((a, f) => a + 4 + f.length, 0)
  const out = new Uint8Array(total)
  writeHeader(out, RENDITION_MAGIC, FORMAT_CODES[r.format], r.width, r.height, r.frames.length)
  const v = new DataView(out.buffer)
  let off = HEADER_BYTES
  for (const f of r.frames) {
    v.setUint32(off, f.length)
    out.set(f, off + 4)
    off += 4 + f.length
  }
  return out
}

/** Parses unit output bytes. Throws {@link MalformedSegmentError}. */
export function decodeRendition(b: Uint8Array): Rendition {
  const h = readHeader(b, 'rendition', RENDITION_MAGIC)
  const format = FORMAT_BY_CODE[h.byte5]
  if (!format) throw new MalformedSegmentError('rendition', 'bad-header', `format code ${h.byte5}`)
  const frames: Uint8Array[] = []
  let off = HEADER_BYTES
  for (let i = 0; i < h.frames; i++) {
    if (off + 4 > b.length) throw new MalformedSegmentError('rendition', 'bad-length', `frame ${i}: length prefix past the end`)
    const len = h.view.getUint32(off)
    if (len < 1 || len > COMPUTE_MAX_ENCODED_FRAME_BYTES || off + 4 + len > b.length) throw new MalformedSegmentError('rendition', 'bad-frame', `frame ${i}: length ${len} does not fit`)
    frames.push(b.subarray(off + 4, off + 4 + len))
    off += 4 + len
  }
  if (off !== b.length) throw new MalformedSegmentError('rendition', 'bad-length', `${b.length - off} trailing bytes`)
  return { format, width: h.width, height: h.height, frames }
}

// ---------------------------------------------------------------------------------------------------------------
// Transcoding

/**
 * Sets libvips' process-wide options for transcoding: `threads` per image (`sharp.concurrency`, default 1: on a
 * shared 2-core box one thread per frame keeps CPU time predictable, and parallelism comes from frames in flight) and
 * no operation cache (frames are never reused; the cache would only hold memory). Returns the previous thread count.
 */
export function configureSharp(o: { threads?: number; cache?: boolean } = {}): number {
  const prev = sharp.concurrency()
  sharp.concurrency(o.threads ?? 1)
  sharp.cache(o.cache ?? false)
  return prev
}

export interface TranscodeOptions {
  /** Frames encoded at the same time (default 1). The output is the same bytes whatever it is. */
  parallel?: number
  /** Encoder quality instead of the profile's: an honest variation a verifier tolerates (tests, variant workers). */
  quality?: number
  /** Resize to these dimensions instead of the profile's (the wrong-resolution adversary). */
  size?: { width: number; height: number }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const n = Math.max(1, Math.min(limit, items.length))
  await Promise.all(Array.from({ length: n }, async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i], i)
  }))
  return out
}

/**
 * Transcodes one unit: decodes the segment, resizes each frame to the profile's exact size and encodes it, and
 * returns the rendition container. Deterministic (same bytes on a rerun). Throws {@link MalformedSegmentError} on bad
 * input, {@link TranscodeProfileError} on a bad profile, {@link TranscodeError} when sharp fails.
 */
export async function transcodeSegment(input: Uint8Array, profile: TranscodeProfile, opts: TranscodeOptions = {}): Promise<Uint8Array> {
  const p = parseProfile(profile)
  const seg = decodeSegment(input)
  const width = opts.size?.width ?? p.width, height = opts.size?.height ?? p.height
  const frames = await mapLimit(seg.frames, opts.parallel ?? 1, async (f, i) => {
    try {
      const img = sharp(f, { raw: { width: seg.width, height: seg.height, channels: seg.channels } }).resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
      return new Uint8Array(await encodeWith(img, p, opts.quality).toBuffer())
    } catch (e) {
      throw new TranscodeError(`sharp failed on frame ${i}`, { cause: e, details: { frame: i, profile: p.name } })
    }
  })
  return encodeRendition({ format: p.format, width, height, frames })
}

// ---------------------------------------------------------------------------------------------------------------
// Checks

export type CheckFailureReason = 'frame-count' | 'format' | 'dimensions' | 'perceptual' | 'malformed'

export type CheckVerdict =
  | { ok: true; /** the output is byte-identical to the re-execution */ exact: boolean; /** lowest per-frame PSNR (Infinity when exact) */ minPsnrDb: number }
  | { ok: false; reason: CheckFailureReason; detail: string; /** the first failing frame, when one is to blame */ frame?: number; psnrDb?: number }

export interface CheckOutputOptions {
  /** The verifier's own re-execution of `input` (computed with {@link transcodeSegment} when absent). */
  reference?: Uint8Array
  /** Per-frame PSNR below which the output fails (default {@link DEFAULT_MIN_PSNR_DB}). */
  minPsnrDb?: number
}

/** Per-frame statistics of raw samples: mean and standard deviation over all channels. */
export function frameStats(raw: Uint8Array): { mean: number; stddev: number } {
  let s = 0, s2 = 0
  for (let i = 0; i < raw.length; i++) { const v = raw[i]; s += v; s2 += v * v }
  const n = raw.length || 1
  const mean = s / n
  return { mean, stddev: Math.sqrt(Math.max(0, s2 / n - mean * mean)) }
}

/** PSNR in dB of two raw sample arrays of the same length (8-bit; Infinity when identical). */
export function psnr(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length || a.length === 0) throw new RangeError(`psnr needs two non-empty arrays of the same length, got ${a.length} and ${b.length}`)
  let se = 0
  for (let i = 0; i < a.length; i++) { const d = a[i] - b[i]; se += d * d }
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255 * a.length) / se)
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

async function decodeRgb(frame: Uint8Array, maxPixels: number): Promise<Uint8Array> {
  const { data } = await sharp(frame, { limitInputPixels: maxPixels, failOn: 'error' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true })
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

/**
 * What a verifier runs on a challenged unit: is `output` a faithful rendition of `input` in `profile`?
 *
 * In order: the output container parses (`malformed`); it has as many frames as the input (`frame-count`); output
 * bytes identical to the re-execution pass at once; each frame decodes with sharp (`malformed`), is in the profile's
 * format (`format`) and exactly its size (`dimensions`: the hole of Livepeer's pixel-count check); a frame that is
 * constant (stddev < {@link CONSTANT_FRAME_STDDEV}) where the re-execution is not fails, and so does any frame whose
 * PSNR against the re-execution is below `minPsnrDb` (`perceptual`). The input is the verifier's own: a malformed
 * input throws {@link MalformedSegmentError} rather than blaming the worker.
 */
export async function checkOutput(input: Uint8Array, output: Uint8Array, profile: TranscodeProfile, opts: CheckOutputOptions = {}): Promise<CheckVerdict> {
  const p = parseProfile(profile)
  const seg = decodeSegment(input)
  const minPsnrDb = opts.minPsnrDb ?? DEFAULT_MIN_PSNR_DB
  let out: Rendition
  try {
    out = decodeRendition(output)
  } catch (e) {
    if (e instanceof MalformedSegmentError) return { ok: false, reason: 'malformed', detail: e.shortMessage }
    throw e
  }
  if (out.frames.length !== seg.frames.length) return { ok: false, reason: 'frame-count', detail: `${out.frames.length} frames, the input has ${seg.frames.length}` }
  const reference = opts.reference ?? await transcodeSegment(input, p)
  if (sameBytes(output, reference)) return { ok: true, exact: true, minPsnrDb: Infinity }
  const ref = decodeRendition(reference)
  const pixels = p.width * p.height
  let minDb = Infinity
  for (let i = 0; i < out.frames.length; i++) {
    let meta: Metadata
    try {
      meta = await sharp(out.frames[i], { limitInputPixels: false }).metadata()
    } catch (e) {
      return { ok: false, reason: 'malformed', detail: `frame ${i} is not an image: ${(e as Error).message}`, frame: i }
    }
    if (meta.format !== p.format) return { ok: false, reason: 'format', detail: `frame ${i} is ${meta.format}, the profile wants ${p.format}`, frame: i }
    if (meta.width !== p.width || meta.height !== p.height) return { ok: false, reason: 'dimensions', detail: `frame ${i} is ${meta.width}x${meta.height}, the profile wants ${p.width}x${p.height}`, frame: i }
    let got: Uint8Array
    try {
      got = await decodeRgb(out.frames[i], pixels)
    } catch (e) {
      return { ok: false, reason: 'malformed', detail: `frame ${i} does not decode: ${(e as Error).message}`, frame: i }
    }
    const want = await decodeRgb(ref.frames[i], pixels)
    if (got.length !== want.length) return { ok: false, reason: 'malformed', detail: `frame ${i} decodes to ${got.length} samples, expected ${want.length}`, frame: i }
    const gs = frameStats(got), ws = frameStats(want)
    if (gs.stddev < CONSTANT_FRAME_STDDEV && ws.stddev >= CONSTANT_FRAME_STDDEV) {
      return { ok: false, reason: 'perceptual', detail: `frame ${i} is constant (mean ${gs.mean.toFixed(1)}, stddev ${gs.stddev.toFixed(2)}) where the source is not (stddev ${ws.stddev.toFixed(1)})`, frame: i }
    }
    const db = psnr(got, want)
    if (db < minPsnrDb) return { ok: false, reason: 'perceptual', detail: `frame ${i}: PSNR ${db.toFixed(2)} dB against the re-execution, below ${minPsnrDb} dB`, frame: i, psnrDb: db }
    if (db < minDb) minDb = db
  }
  return { ok: true, exact: false, minPsnrDb: minDb }
}

/** Per-frame PSNR (dB) of `output` against `reference`, both renditions of the same size (for reports and tests). */
export async function renditionPsnr(output: Uint8Array, reference: Uint8Array): Promise<number[]> {
  const a = decodeRendition(output), b = decodeRendition(reference)
  if (a.frames.length !== b.frames.length) throw new RangeError(`frame counts differ: ${a.frames.length} and ${b.frames.length}`)
  const out: number[] = []
  for (let i = 0; i < a.frames.length; i++) {
    const x = await decodeRgb(a.frames[i], 0), y = await decodeRgb(b.frames[i], 0)
    out.push(x.length === y.length ? psnr(x, y) : NaN)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Adversarial renditions

/**
 * A lazy worker's output for `input`, made with real sharp calls so it looks plausible: `copy` transcodes another
 * unit's input (`other`) honestly and hands it in for this one (right count, size and format, wrong picture);
 * `noise` encodes seeded noise frames of the right size and format; `bytes` is seeded random bytes, not even a
 * container.
 */
export async function lazyOutput(input: Uint8Array, profile: TranscodeProfile, o: { mode: 'copy'; other: Uint8Array } | { mode: 'noise' | 'bytes'; seed?: number }): Promise<Uint8Array> {
  const p = parseProfile(profile)
  const seg = decodeSegment(input)
  if (o.mode === 'copy') {
    const other = decodeSegment(o.other)
    // Reuse the other unit's frames (cycled) so the frame count matches this unit's.
    const frames = seg.frames.map((_, i) => other.frames[i % other.frames.length])
    return transcodeSegment(encodeSegment({ width: other.width, height: other.height, frames }), p)
  }
  let x = mix32((o.seed ?? 1) ^ 0x1a2b) | 1
  const next = (): number => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0 }
  if (o.mode === 'bytes') {
    const b = new Uint8Array(4096)
    for (let i = 0; i < b.length; i++) b[i] = next() & 255
    return b
  }
  const frames: Uint8Array[] = []
  for (let i = 0; i < seg.frames.length; i++) {
    const raw = new Uint8Array(p.width * p.height * 3)
    for (let j = 0; j < raw.length; j++) raw[j] = next() & 255
    frames.push(new Uint8Array(await encodeWith(sharp(raw, { raw: { width: p.width, height: p.height, channels: 3 } }), p).toBuffer()))
  }
  return encodeRendition({ format: p.format, width: p.width, height: p.height, frames })
}

/** Right count, size and format, every frame black (`colour` to use another flat fill): Livepeer's black rendition. */
export async function blackOutput(input: Uint8Array, profile: TranscodeProfile, o: { colour?: { r: number; g: number; b: number } } = {}): Promise<Uint8Array> {
  const p = parseProfile(profile)
  const seg = decodeSegment(input)
  const background = o.colour ?? { r: 0, g: 0, b: 0 }
  const one = new Uint8Array(await encodeWith(sharp({ create: { width: p.width, height: p.height, channels: 3, background } }), p).toBuffer())
  return encodeRendition({ format: p.format, width: p.width, height: p.height, frames: seg.frames.map(() => one) })
}

/** An honest transcode at the wrong size (default half the profile's: 640x360 for 720p), header claiming that size. */
export async function wrongResolutionOutput(input: Uint8Array, profile: TranscodeProfile, size?: { width: number; height: number }): Promise<Uint8Array> {
  const p = parseProfile(profile)
  return transcodeSegment(input, p, { size: size ?? { width: Math.max(1, Math.floor(p.width / 2)), height: Math.max(1, Math.floor(p.height / 2)) } })
}

// ---------------------------------------------------------------------------------------------------------------
// Baseline

export interface MeasureSharpAloneParameters {
  /** Frames a unit. */
  frames: number
  /** Source size. */
  width: number
  height: number
  profile: TranscodeProfile
  /** Units timed (default 3), after one untimed warm-up unit. */
  units?: number
  seed?: number | string
  /** Frames in flight in transcodeSegment (default 1). */
  parallel?: number
  /** The clock the caller times with, in ms (a benchmark passes `performance.now`; roles never time themselves). */
  now: () => number
}

export interface SharpAloneMeasurement {
  unitsPerSecond: number
  msPerUnit: number
  msPerFrame: number
  units: number
  framesPerUnit: number
}

/**
 * Units per second of {@link transcodeSegment} alone on pre-built inputs (generation not timed): the baseline
 * `unitsPerSecondPaidToSharpAlone` divides by. Uses whatever {@link configureSharp} set.
 */
export async function measureSharpAlone(p: MeasureSharpAloneParameters): Promise<SharpAloneMeasurement> {
  const units = p.units ?? 3
  if (!Number.isInteger(units) || units < 1) throw new RangeError(`units must be a positive integer, got ${units}`)
  const inputs = Array.from({ length: units + 1 }, (_, u) => unitInput({ width: p.width, height: p.height, framesPerUnit: p.frames, unit: u, seed: p.seed ?? 1 }))
  await transcodeSegment(inputs[units], p.profile, { parallel: p.parallel })
  const t0 = p.now()
  for (let u = 0; u < units; u++) await transcodeSegment(inputs[u], p.profile, { parallel: p.parallel })
  const ms = p.now() - t0
  return { unitsPerSecond: (units * 1000) / ms, msPerUnit: ms / units, msPerFrame: ms / (units * p.frames), units, framesPerUnit: p.frames }
}
