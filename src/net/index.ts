/**
 * `src/net`: the transport layer of Souk. See docs/net.md.
 *
 * @example
 * ```ts
 * import { createMemoryNetwork, createCodec, protocolId, request, readMessage, sendMessage } from './index.js'
 * ```
 */
export type { PeerId, AbortOptions, MessageStream, StreamHandler, HandleOptions, Transport, TransportOptions } from './types.js'
export {
  protocolId, parseProtocolId,
  DEFAULT_MAX_MESSAGE_BYTES, MAX_CONTROL_MESSAGE_BYTES, MAX_CHUNK_BYTES, DEFAULT_MAX_INBOUND_STREAMS, DEFAULT_DIAL_TIMEOUT_MS,
} from './types.js'
export {
  NetError, MessageTooLargeError, MalformedMessageError, StreamClosedError, DialError, TimeoutError, AbortedError, ProtocolViolationError,
  PeerBannedError, TransportStoppedError, isProtocolViolation,
} from './errors.js'
export type { MessageIssue, StreamClosedReason } from './errors.js'
export {
  createCodec, createBinaryCodec, encodeJson, decodeJson, sendMessage, readMessage, request,
  BINARY_HEADER_PREFIX_BYTES, MAX_BINARY_HEADER_BYTES,
} from './codec.js'
export type { Codec, CodecOptions, BinaryMessage } from './codec.js'
export { createMemoryNetwork, MEMORY_RECEIVE_WINDOW_BYTES, MEMORY_ADDRESS_PREFIX } from './memory.js'
export type { MemoryNetwork, MemoryNetworkOptions, MemoryNetworkStats } from './memory.js'
export { createLibp2pTransport, generateIdentity, peerIdFromIdentity, ipAndSubnet, DEFAULT_MAX_INBOUND_PER_IP, DEFAULT_MAX_INBOUND_PER_SUBNET, LIBP2P_FRAME_PREFIX_BYTES, LIBP2P_MAX_OUTBOUND_STREAMS, LIBP2P_WRITE_BUFFER_BYTES } from './libp2p.js'
export type { Libp2pTransport, Libp2pTransportOptions } from './libp2p.js'
export { LIBP2P_STREAM_WINDOW_BYTES } from './yamux.js'
export { releaseWhenRemoteEnds, REMOTE_END_TIMEOUT_MS } from './release.js'
