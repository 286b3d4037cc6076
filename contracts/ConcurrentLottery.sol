// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title ConcurrentLottery — MicroCash-style concurrent probabilistic micropayments from one escrow.
/// @notice A sponsor opens an escrow that declares a ticket value V, a schedule of N tickets per round, W winners
/// per round, a round length, a draw delay and a number of funded rounds; it holds a payment balance of at least
/// W·V per funded round and a penalty deposit. The sponsor hands each ticket — (escrow id, server, sequence number,
/// issue round, salt) — to exactly one server, signed either alone (EIP-712 `Ticket`) or as a leaf of a Merkle tree
/// whose root it signs once (EIP-712 `TicketBatch`). Round r covers blocks [r·L, (r+1)·L); its draw block is
/// (r+1)·L − 1 + drawDelay. The hash of that block keys a pseudo-random permutation π of [0, N) (4-round Feistel
/// network with cycle walking); sequence number s wins iff π(s) < W. π is a bijection, so every draw has exactly
/// W winners, and each number wins with probability W/N. Winners are paid in full from the balance, batched, one
/// transfer per call.
///
/// Duplicates: a sponsor that issues one number to two servers shows it when that number wins and one server is
/// paid for it. A server holding a sponsor-signed ticket for a winning number of the schedule that was paid to
/// another server, and not to it, is a victim: {proveDuplicate} pays it V from the victims' pool, once per
/// (number, server). The first proof catches the escrow: the schedule ends after the current round (tickets of
/// begun rounds stay redeemable until the new expiry), ⌈penalty/2⌉ is burned (sent to {BURN_ADDRESS}: a loss the
/// sponsor cannot recover through servers of its own) and ⌊penalty/2⌋ becomes the victims' pool. Proofs are
/// accepted until the expiry; what is left of the pool is burned at {withdraw}, never returned to the sponsor.
/// Residual: a caught sponsor can claim pool money through Sybil servers holding copies of paid numbers (one proof
/// per V), so victims are compensated only while the pool lasts; the burned half is lost to it in any case.
///
/// Draw seeds: a block hash is readable on chain for 256 blocks only. {recordDraw} (anyone) stores it once per block
/// for every escrow; redemption records it implicitly. A draw nobody recorded within 256 blocks is lost, and its
/// winners cannot be redeemed — servers record draws promptly (Souk's payee does it in {settle}).
///
/// Reentrancy: OpenZeppelin's transient-storage guard (EIP-1153, cancun), the same API as ReentrancyGuard at a
/// fraction of its gas.
///
/// Replay protection and payees: winner index (round − startRound)·W + π(s), so all winners of a round share one or
/// two storage words. One global bitmap says a winner was paid; one bitmap per (escrow, server) over the same index
/// says that server got V for it (redeemed or compensated). Redemption keeps the current word of both in memory and
/// writes each once per word, not once per ticket.
///
/// Invariants (tested by property tests against a TypeScript reference model):
///  M1 token.balanceOf(this) == Σ balance + Σ penalty + Σ pool        (money is neither created nor lost; burns
///     leave the contract to BURN_ADDRESS)
///  M2 balance >= committed, where committed = W·V·(funded rounds) − Σ paid: every winner is always paid in full
///  M3 a (escrow, round, seq) is redeemed at most once, and only if π(seq) < W: a draw pays at most W·V from the
///     balance; the server it paid is recorded
///  M4 a proof pays at most V, once per (number, server), only to a server holding a sponsor-signed ticket for a
///     winning number of the schedule that another server was paid for and it was not; compensations never exceed
///     the pool, ⌊penalty/2⌋ at the first proof
///  M5 only the owner changes its escrow's funding, schedule or unlock state; nothing returns to it before expiry;
///     after a proof nothing of the penalty or pool ever returns to it (⌈penalty/2⌉ burned at once, the pool's
///     remainder at withdrawal)
contract ConcurrentLottery is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------- types
    /// @notice What a sponsor declares when it opens an escrow.
    struct EscrowParams {
        uint128 ticketValue; // V: paid per winning ticket
        uint32 ticketsPerRound; // N: sequence numbers per round are [0, N)
        uint32 winnersPerRound; // W: exactly W winners per draw, 1 <= W, 2W <= N
        uint32 roundLengthBlocks; // L
        uint32 drawDelayBlocks; // blocks between a round's last block and its draw block (>= 1)
        uint32 rounds; // funded issue rounds, from the creation round
        uint32 redeemWindowBlocks; // blocks after the last round's draw during which winners may still be redeemed
    }

    struct Escrow {
        address owner;
        uint128 ticketValue;
        uint32 ticketsPerRound;
        uint32 winnersPerRound;
        uint32 roundLengthBlocks;
        uint32 drawDelayBlocks;
        uint32 redeemWindowBlocks;
        uint64 startRound;
        uint64 endRound; // exclusive
        uint64 expiryBlock; // last block at which a winner may be redeemed
        bool unlocked;
        bool closed; // a duplicate was proven: no new rounds, the penalty was burned / moved to the pool
        bool withdrawn;
        uint256 balance;
        uint256 committed; // W·V·(rounds) − paid: what the balance must still cover
        uint256 penalty; // deposit until the first proof, 0 after it
        uint256 pool; // victims' pool after the first proof: ⌊penalty/2⌋ minus compensations paid
    }

    struct Sig {
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    /// @dev The escrow fields redemption needs, read once (two storage slots).
    struct Sched {
        uint128 ticketValue;
        uint32 ticketsPerRound;
        uint32 winnersPerRound;
        uint32 roundLengthBlocks;
        uint32 drawDelayBlocks;
        uint64 startRound;
        uint64 endRound;
    }

    /// @notice One ticket as presented for redemption (the escrow and server are given once per call).
    struct TicketRef {
        uint64 round;
        uint32 seq;
        bytes32 salt;
        bytes32[] proof; // Merkle path (batch-signed); empty for a single-signed ticket
    }

    /// @notice Tickets under one signature: a batch root (`batch`), or one single-signed ticket.
    struct SignedBundle {
        bool batch;
        Sig sig;
        TicketRef[] tickets;
    }

    /// @notice One complete signed ticket: the victim's, in {proveDuplicate} (`proof` empty unless `batch`).
    struct TicketProof {
        address server;
        uint64 round;
        uint32 seq;
        bytes32 salt;
        bool batch;
        bytes32[] proof;
        Sig sig;
    }

    bytes32 public constant TICKET_TYPEHASH =
        keccak256("Ticket(uint256 escrowId,address server,uint256 seq,uint256 round,bytes32 salt)");
    bytes32 public constant BATCH_TYPEHASH = keccak256("TicketBatch(uint256 escrowId,bytes32 root)");
    /// @notice Blocks for which a block hash stays readable on chain.
    uint256 public constant BLOCKHASH_WINDOW = 256;
    /// @notice Where burned penalty money goes (no key is known for it).
    address public constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;

    // ---------------------------------------------------------------- state
    IERC20 public immutable token;
    uint256 private _lastId;
    mapping(uint256 id => Escrow) private _escrows;
    mapping(uint256 id => mapping(uint256 word => uint256)) private _redeemed;
    mapping(uint256 id => mapping(address server => mapping(uint256 word => uint256))) private _paidTo;
    mapping(uint256 blockNumber => bytes32) private _seeds;

    // ---------------------------------------------------------------- errors
    error ConcurrentLotteryZeroAddress();
    error ConcurrentLotteryZeroAmount();
    error ConcurrentLotteryBadParams(string what);
    error ConcurrentLotteryUnderfunded(uint256 balance, uint256 needed);
    error ConcurrentLotteryUnknownEscrow(uint256 escrowId);
    error ConcurrentLotteryNotOwner(uint256 escrowId, address caller);
    error ConcurrentLotteryEscrowClosed(uint256 escrowId);
    error ConcurrentLotteryEscrowExpired(uint256 escrowId, uint256 expiryBlock, uint256 currentBlock);
    error ConcurrentLotteryAlreadyUnlocked(uint256 escrowId);
    error ConcurrentLotteryNotExpired(uint256 escrowId, uint256 expiryBlock, uint256 currentBlock);
    error ConcurrentLotteryNothingToWithdraw(uint256 escrowId);
    error ConcurrentLotteryRoundOutOfSchedule(uint256 escrowId, uint256 round, uint256 startRound, uint256 endRound);
    error ConcurrentLotterySeqOutOfSchedule(uint256 escrowId, uint256 seq, uint256 ticketsPerRound);
    error ConcurrentLotteryDrawNotReached(uint256 drawBlock, uint256 currentBlock);
    error ConcurrentLotteryDrawUnavailable(uint256 drawBlock, uint256 currentBlock);
    error ConcurrentLotteryInvalidSignature(uint256 escrowId, address expectedSigner);
    error ConcurrentLotteryBadMerkleProof(uint256 escrowId, uint256 round, uint256 seq);
    error ConcurrentLotterySingleTicketBundle(uint256 count);
    error ConcurrentLotteryNotWinning(uint256 escrowId, uint256 round, uint256 seq, uint256 rank);
    error ConcurrentLotteryAlreadyRedeemed(uint256 escrowId, uint256 round, uint256 seq);
    error ConcurrentLotteryNotDuplicate(uint256 escrowId);
    error ConcurrentLotteryNotRedeemed(uint256 escrowId, uint256 round, uint256 seq);
    error ConcurrentLotteryNotPaidTo(uint256 escrowId, uint256 round, uint256 seq, address server);
    error ConcurrentLotteryVictimPaid(uint256 escrowId, uint256 round, uint256 seq, address victim);
    error ConcurrentLotteryPoolExhausted(uint256 escrowId);
    error ConcurrentLotteryBadPacking(uint256 offset);

    // ---------------------------------------------------------------- events
    event EscrowCreated(
        uint256 indexed escrowId, address indexed owner, uint256 balance, uint256 penalty, uint64 startRound, uint64 endRound, uint64 expiryBlock
    );
    event EscrowToppedUp(uint256 indexed escrowId, uint256 amount, uint256 penaltyAmount, uint64 endRound, uint64 expiryBlock);
    event EscrowUnlocked(uint256 indexed escrowId, uint64 endRound, uint64 expiryBlock);
    event EscrowWithdrawn(uint256 indexed escrowId, uint256 balance, uint256 penalty);
    event DrawRecorded(uint256 indexed drawBlock, bytes32 seed);
    event WinnersRedeemed(uint256 indexed escrowId, address indexed server, uint256 count, uint256 amount);
    event DuplicateProven(uint256 indexed escrowId, uint256 round, uint256 seq, address indexed victim, address paidServer, uint256 compensation);
    event EscrowCaught(uint256 indexed escrowId, uint256 burned, uint256 pool, uint64 endRound, uint64 expiryBlock);
    event PenaltyBurned(uint256 indexed escrowId, uint256 amount);

    constructor(IERC20 token_) EIP712("Souk ConcurrentLottery", "1") {
        if (address(token_) == address(0)) revert ConcurrentLotteryZeroAddress();
        token = token_;
    }

    // ---------------------------------------------------------------- views
    /// @notice The escrow `escrowId` (owner == 0 when unknown).
    function getEscrow(uint256 escrowId) external view returns (Escrow memory) {
        return _escrows[escrowId];
    }

    /// @notice Number of escrows created so far (ids are 1..lastEscrowId).
    function lastEscrowId() external view returns (uint256) {
        return _lastId;
    }

    /// @notice The round containing `blockNumber` for an escrow with rounds of `roundLengthBlocks`.
    function roundAt(uint256 blockNumber, uint256 roundLengthBlocks) public pure returns (uint256) {
        return blockNumber / roundLengthBlocks;
    }

    /// @notice The draw block of `round`: its last block plus the draw delay.
    function drawBlockOf(uint256 round, uint256 roundLengthBlocks, uint256 drawDelayBlocks) public pure returns (uint256) {
        return (round + 1) * roundLengthBlocks - 1 + drawDelayBlocks;
    }

    /// @notice The recorded seed of `blockNumber` (0 when not recorded).
    function seedOf(uint256 blockNumber) external view returns (bytes32) {
        return _seeds[blockNumber];
    }

    /// @notice The rank π(seq) of `seq` in the draw of (`escrowId`, `round`) keyed by `seed`; it wins iff rank < W.
    function winnerRank(bytes32 seed, uint256 escrowId, uint256 round, uint256 seq, uint256 ticketsPerRound) public pure returns (uint256) {
        return _permute(keccak256(abi.encode(seed, escrowId, round)), seq, ticketsPerRound);
    }

    /// @notice Whether the winner (round, seq) of `escrowId` was already redeemed (by any server).
    function isRedeemed(uint256 escrowId, uint256 round, uint256 seq) external view returns (bool) {
        (bool ok, uint256 w, uint256 bit) = _winnerBit(escrowId, round, seq);
        return ok && _redeemed[escrowId][w] & bit != 0;
    }

    /// @notice Whether `server` got V for the winner (round, seq) of `escrowId`: redeemed it, or was compensated.
    function isPaidTo(uint256 escrowId, uint256 round, uint256 seq, address server) external view returns (bool) {
        (bool ok, uint256 w, uint256 bit) = _winnerBit(escrowId, round, seq);
        return ok && _paidTo[escrowId][server][w] & bit != 0;
    }

    /// @notice EIP-712 struct hash of a ticket; it is also the ticket's Merkle leaf.
    function ticketHash(uint256 escrowId, address server, uint256 seq, uint256 round, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(TICKET_TYPEHASH, escrowId, server, seq, round, salt));
    }

    /// @notice The digest a sponsor signs for one ticket.
    function ticketDigest(uint256 escrowId, address server, uint256 seq, uint256 round, bytes32 salt) external view returns (bytes32) {
        return _hashTypedDataV4(ticketHash(escrowId, server, seq, round, salt));
    }

    /// @notice The digest a sponsor signs for a batch of tickets with Merkle root `root`.
    function batchDigest(uint256 escrowId, bytes32 root) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(BATCH_TYPEHASH, escrowId, root)));
    }

    // ---------------------------------------------------------------- escrow lifecycle
    /// @notice Opens an escrow owned by the caller, funded with `balance` (>= W·V·rounds) and `penalty`.
    /// Emits {EscrowCreated}.
    function createEscrow(EscrowParams calldata p, uint256 balance, uint256 penalty) external nonReentrant returns (uint256 escrowId) {
        if (p.ticketValue == 0) revert ConcurrentLotteryBadParams("ticketValue");
        if (p.winnersPerRound == 0 || uint256(p.winnersPerRound) * 2 > p.ticketsPerRound) revert ConcurrentLotteryBadParams("winnersPerRound");
        if (p.roundLengthBlocks == 0) revert ConcurrentLotteryBadParams("roundLengthBlocks");
        if (p.drawDelayBlocks == 0) revert ConcurrentLotteryBadParams("drawDelayBlocks");
        if (p.rounds == 0) revert ConcurrentLotteryBadParams("rounds");
        if (p.redeemWindowBlocks == 0) revert ConcurrentLotteryBadParams("redeemWindowBlocks");
        uint256 needed = uint256(p.winnersPerRound) * p.ticketValue * p.rounds;
        if (balance < needed) revert ConcurrentLotteryUnderfunded(balance, needed);
        escrowId = ++_lastId;
        uint64 start = uint64(block.number / p.roundLengthBlocks);
        uint64 end = start + p.rounds;
        uint64 expiry = uint64(drawBlockOf(end - 1, p.roundLengthBlocks, p.drawDelayBlocks) + p.redeemWindowBlocks);
        Escrow storage e = _escrows[escrowId];
        e.owner = msg.sender;
        e.ticketValue = p.ticketValue;
        e.ticketsPerRound = p.ticketsPerRound;
        e.winnersPerRound = p.winnersPerRound;
        e.roundLengthBlocks = p.roundLengthBlocks;
        e.drawDelayBlocks = p.drawDelayBlocks;
        e.redeemWindowBlocks = p.redeemWindowBlocks;
        e.startRound = start;
        e.endRound = end;
        e.expiryBlock = expiry;
        e.balance = balance;
        e.committed = needed;
        e.penalty = penalty;
        emit EscrowCreated(escrowId, msg.sender, balance, penalty, start, end, expiry);
        token.safeTransferFrom(msg.sender, address(this), balance + penalty);
    }

    /// @notice Adds `amount` to the balance and `penaltyAmount` to the penalty deposit, and funds `extraRounds`
    /// more rounds (the balance must then cover them). Only the owner, while the escrow runs (not unlocked,
    /// closed or expired). Emits {EscrowToppedUp}.
    function topUp(uint256 escrowId, uint256 amount, uint256 penaltyAmount, uint32 extraRounds) external nonReentrant {
        Escrow storage e = _owned(escrowId);
        if (e.closed) revert ConcurrentLotteryEscrowClosed(escrowId);
        if (e.unlocked) revert ConcurrentLotteryAlreadyUnlocked(escrowId);
        if (block.number > e.expiryBlock) revert ConcurrentLotteryEscrowExpired(escrowId, e.expiryBlock, block.number);
        if (amount + penaltyAmount == 0 && extraRounds == 0) revert ConcurrentLotteryZeroAmount();
        e.balance += amount;
        e.penalty += penaltyAmount;
        if (extraRounds != 0) {
            e.committed += uint256(e.winnersPerRound) * e.ticketValue * extraRounds;
            if (e.balance < e.committed) revert ConcurrentLotteryUnderfunded(e.balance, e.committed);
            e.endRound += extraRounds;
            e.expiryBlock = uint64(drawBlockOf(e.endRound - 1, e.roundLengthBlocks, e.drawDelayBlocks) + e.redeemWindowBlocks);
        }
        emit EscrowToppedUp(escrowId, amount, penaltyAmount, e.endRound, e.expiryBlock);
        if (amount + penaltyAmount != 0) token.safeTransferFrom(msg.sender, address(this), amount + penaltyAmount);
    }

    /// @notice Stops the schedule after the current round: rounds already begun stay funded and redeemable until
    /// the new expiry, after which the owner may {withdraw}. Irreversible; only the owner. Emits {EscrowUnlocked}.
    function unlock(uint256 escrowId) external {
        Escrow storage e = _owned(escrowId);
        if (e.unlocked) revert ConcurrentLotteryAlreadyUnlocked(escrowId);
        e.unlocked = true;
        _truncate(e);
        emit EscrowUnlocked(escrowId, e.endRound, e.expiryBlock);
    }

    /// @notice After the expiry, returns the balance and the penalty deposit (none after a proof) to the owner, and
    /// burns what is left of the victims' pool. Once. Emits {EscrowWithdrawn} (and {PenaltyBurned} for the pool).
    function withdraw(uint256 escrowId) external nonReentrant {
        Escrow storage e = _owned(escrowId);
        if (block.number <= e.expiryBlock) revert ConcurrentLotteryNotExpired(escrowId, e.expiryBlock, block.number);
        uint256 bal = e.balance;
        uint256 pen = e.penalty;
        uint256 pool = e.pool;
        if (e.withdrawn || bal + pen + pool == 0) revert ConcurrentLotteryNothingToWithdraw(escrowId);
        e.balance = 0;
        e.penalty = 0;
        e.pool = 0;
        e.committed = 0;
        e.withdrawn = true;
        emit EscrowWithdrawn(escrowId, bal, pen);
        if (pool != 0) {
            emit PenaltyBurned(escrowId, pool);
            token.safeTransfer(BURN_ADDRESS, pool);
        }
        if (bal + pen != 0) token.safeTransfer(msg.sender, bal + pen);
    }

    // ---------------------------------------------------------------- draws and redemption
    /// @notice Stores the hash of `drawBlock` as a draw seed (for every escrow whose draw falls on that block).
    /// Anyone may call it while the hash is readable (256 blocks). No-op when already recorded.
    /// Emits {DrawRecorded}.
    function recordDraw(uint256 drawBlock) external {
        _seed(drawBlock);
    }

    /// @notice Redeems winning tickets of `escrowId` that all pay `server`, in one transfer. Bundles are
    /// single-signed tickets or batch-signed tickets under one root (the signature is checked once per bundle).
    /// All-or-nothing: any invalid, losing or already-paid ticket reverts the whole call. Anyone may submit (the
    /// money always goes to `server`). Records, per winner, that it was paid and that `server` was the one paid
    /// ({isRedeemed}, {isPaidTo}). Emits {WinnersRedeemed}.
    function redeemWinningTickets(uint256 escrowId, address server, SignedBundle[] calldata bundles) external nonReentrant {
        if (server == address(0)) revert ConcurrentLotteryZeroAddress();
        Escrow storage e = _escrows[escrowId];
        address owner = e.owner;
        if (owner == address(0)) revert ConcurrentLotteryUnknownEscrow(escrowId);
        if (block.number > e.expiryBlock) revert ConcurrentLotteryEscrowExpired(escrowId, e.expiryBlock, block.number);
        Sched memory m = Sched(e.ticketValue, e.ticketsPerRound, e.winnersPerRound, e.roundLengthBlocks, e.drawDelayBlocks, e.startRound, e.endRound);
        mapping(uint256 => uint256) storage paid = _redeemed[escrowId];
        mapping(uint256 => uint256) storage mine = _paidTo[escrowId][server];
        uint256 count;
        uint256 lastRound = type(uint256).max;
        bytes32 key;
        // The bitmap word in use, of both bitmaps, is kept in memory and written back when another word is needed.
        uint256 w = type(uint256).max;
        uint256 paidWord;
        uint256 mineWord;
        for (uint256 b = 0; b < bundles.length; ++b) {
            SignedBundle calldata sb = bundles[b];
            _checkBundle(escrowId, owner, server, sb);
            for (uint256 i = 0; i < sb.tickets.length; ++i) {
                TicketRef calldata t = sb.tickets[i];
                if (t.round != lastRound) {
                    _checkRound(escrowId, m, t.round);
                    key = keccak256(abi.encode(_seed(drawBlockOf(t.round, m.roundLengthBlocks, m.drawDelayBlocks)), escrowId, uint256(t.round)));
                    lastRound = t.round;
                }
                if (t.seq >= m.ticketsPerRound) revert ConcurrentLotterySeqOutOfSchedule(escrowId, t.seq, m.ticketsPerRound);
                uint256 rank = _permute(key, t.seq, m.ticketsPerRound);
                if (rank >= m.winnersPerRound) revert ConcurrentLotteryNotWinning(escrowId, t.round, t.seq, rank);
                uint256 idx = (uint256(t.round) - m.startRound) * m.winnersPerRound + rank;
                if (idx >> 8 != w) {
                    if (w != type(uint256).max) {
                        paid[w] = paidWord;
                        mine[w] = mineWord;
                    }
                    w = idx >> 8;
                    paidWord = paid[w];
                    mineWord = mine[w];
                }
                uint256 bit = 1 << (idx & 255);
                if (paidWord & bit != 0) revert ConcurrentLotteryAlreadyRedeemed(escrowId, t.round, t.seq);
                paidWord |= bit;
                mineWord |= bit;
                ++count;
            }
        }
        if (count == 0) return;
        paid[w] = paidWord;
        mine[w] = mineWord;
        uint256 amount = count * m.ticketValue;
        // Safe by M2: every paid ticket is a distinct winner of a funded round, and W·V per funded round is in
        // `committed` <= `balance`.
        e.balance -= amount;
        e.committed -= amount;
        emit WinnersRedeemed(escrowId, server, count, amount);
        token.safeTransfer(server, amount);
    }

    /// @notice {redeemWinningTickets} for several escrows at once, in the packed calldata format: one transaction and
    /// one transfer per server however many sponsors paid it, and a Merkle path node shared by several tickets of a
    /// bundle is sent once. `data` is a sequence of escrow groups, all integers big-endian:
    ///
    ///     group  := escrowId (8 bytes) ‖ bundleCount (2) ‖ bundle × bundleCount
    ///     bundle := kind (1: 0 single-signed, 1 batch) ‖ round (8) ‖ r (32) ‖ vs (32: EIP-2098, s with v − 27 in
    ///               its top bit) ‖ ticketCount (2, >= 1) ‖ nodeCount (1) ‖ node (32) × nodeCount ‖ ticket × ticketCount
    ///     ticket := seq (4) ‖ salt (32) ‖ pathLength (1) ‖ nodeIndex (1) × pathLength
    ///
    /// Every ticket of a bundle has the bundle's round; a ticket's Merkle path is the list of its nodes in the
    /// bundle's node table (leaf level first). A single-signed bundle has one ticket, no nodes and an empty path.
    /// Each group is checked and recorded exactly as {redeemWinningTickets} checks and records its escrow (the same
    /// errors; a group's bundles may repeat an escrow of an earlier group) and emits its {WinnersRedeemed}; the sum
    /// of all groups is sent to `server` in one transfer. All-or-nothing; anyone may submit. Malformed data reverts
    /// with {ConcurrentLotteryBadPacking}.
    function redeemPacked(address server, bytes calldata data) external nonReentrant {
        if (server == address(0)) revert ConcurrentLotteryZeroAddress();
        uint256 o;
        uint256 total;
        bytes32 domain = _domainSeparatorV4();
        while (o < data.length) {
            uint256 amount;
            (amount, o) = _redeemGroup(server, data, o, domain);
            total += amount;
        }
        if (o != data.length) revert ConcurrentLotteryBadPacking(o);
        if (total != 0) token.safeTransfer(server, total);
    }

    /// @notice Compensates a victim of a duplicated number: `victim` is a ticket the owner of `escrowId` signed (alone
    /// or in a batch) for a winning (round, seq) of the schedule, which `paidServer` was paid for and the victim's
    /// server was not. Pays that server V from the victims' pool (less if less is left), once per (number, server);
    /// anyone may submit, the money always goes to the ticket's server. The first proof catches the escrow: the
    /// schedule ends after the current round, ⌈penalty/2⌉ is burned and ⌊penalty/2⌋ becomes the pool. Accepted
    /// until the expiry. Emits {DuplicateProven}, and on the first proof {EscrowCaught} and {PenaltyBurned}.
    function proveDuplicate(uint256 escrowId, TicketProof calldata victim, address paidServer) external nonReentrant {
        Escrow storage e = _escrows[escrowId];
        address owner = e.owner;
        if (owner == address(0)) revert ConcurrentLotteryUnknownEscrow(escrowId);
        if (block.number > e.expiryBlock) revert ConcurrentLotteryEscrowExpired(escrowId, e.expiryBlock, block.number);
        address server = victim.server;
        if (server == address(0) || paidServer == address(0)) revert ConcurrentLotteryZeroAddress();
        if (server == paidServer) revert ConcurrentLotteryNotDuplicate(escrowId);
        Sched memory m = Sched(e.ticketValue, e.ticketsPerRound, e.winnersPerRound, e.roundLengthBlocks, e.drawDelayBlocks, e.startRound, e.endRound);
        uint256 round = victim.round;
        uint256 seq = victim.seq;
        _checkRound(escrowId, m, round);
        if (seq >= m.ticketsPerRound) revert ConcurrentLotterySeqOutOfSchedule(escrowId, seq, m.ticketsPerRound);
        _checkProof(escrowId, owner, victim);
        bytes32 key = keccak256(abi.encode(_seed(drawBlockOf(round, m.roundLengthBlocks, m.drawDelayBlocks)), escrowId, round));
        uint256 rank = _permute(key, seq, m.ticketsPerRound);
        if (rank >= m.winnersPerRound) revert ConcurrentLotteryNotWinning(escrowId, round, seq, rank);
        uint256 idx = (round - m.startRound) * m.winnersPerRound + rank;
        uint256 w = idx >> 8;
        uint256 bit = 1 << (idx & 255);
        if (_redeemed[escrowId][w] & bit == 0) revert ConcurrentLotteryNotRedeemed(escrowId, round, seq);
        if (_paidTo[escrowId][paidServer][w] & bit == 0) revert ConcurrentLotteryNotPaidTo(escrowId, round, seq, paidServer);
        uint256 vw = _paidTo[escrowId][server][w];
        if (vw & bit != 0) revert ConcurrentLotteryVictimPaid(escrowId, round, seq, server);
        _paidTo[escrowId][server][w] = vw | bit;
        uint256 burn;
        bool first = !e.closed;
        if (first) {
            uint256 pen = e.penalty;
            burn = pen - pen / 2;
            e.penalty = 0;
            e.pool = pen / 2;
            e.closed = true;
            _truncate(e);
            emit EscrowCaught(escrowId, burn, pen / 2, e.endRound, e.expiryBlock);
        }
        uint256 pool = e.pool;
        uint256 pay = pool < m.ticketValue ? pool : m.ticketValue;
        if (pay == 0 && !first) revert ConcurrentLotteryPoolExhausted(escrowId);
        e.pool = pool - pay;
        emit DuplicateProven(escrowId, round, seq, server, paidServer, pay);
        if (burn != 0) {
            emit PenaltyBurned(escrowId, burn);
            token.safeTransfer(BURN_ADDRESS, burn);
        }
        if (pay != 0) token.safeTransfer(server, pay);
    }

    // ---------------------------------------------------------------- internals
    function _owned(uint256 escrowId) private view returns (Escrow storage e) {
        e = _escrows[escrowId];
        if (e.owner == address(0)) revert ConcurrentLotteryUnknownEscrow(escrowId);
        if (e.owner != msg.sender) revert ConcurrentLotteryNotOwner(escrowId, msg.sender);
    }

    /// @dev Ends the schedule after the current round and releases the commitment of the rounds dropped.
    function _truncate(Escrow storage e) private {
        uint64 cur = uint64(block.number / e.roundLengthBlocks);
        if (cur + 1 < e.endRound) {
            uint256 dropped = e.endRound - (cur + 1);
            // Safe: dropped rounds have not begun, so nothing of their W·V was paid (committed includes it).
            e.committed -= dropped * e.winnersPerRound * e.ticketValue;
            e.endRound = cur + 1;
            e.expiryBlock = uint64(drawBlockOf(cur, e.roundLengthBlocks, e.drawDelayBlocks) + e.redeemWindowBlocks);
        }
    }

    /// @dev The bitmap word and bit of the winner (round, seq) of `escrowId`; ok == false when it is not a recorded
    /// winner of the schedule.
    function _winnerBit(uint256 escrowId, uint256 round, uint256 seq) private view returns (bool ok, uint256 w, uint256 bit) {
        Escrow storage e = _escrows[escrowId];
        if (round < e.startRound || round >= e.endRound || seq >= e.ticketsPerRound) return (false, 0, 0);
        bytes32 seed = _seeds[drawBlockOf(round, e.roundLengthBlocks, e.drawDelayBlocks)];
        if (seed == 0) return (false, 0, 0);
        uint256 rank = winnerRank(seed, escrowId, round, seq, e.ticketsPerRound);
        if (rank >= e.winnersPerRound) return (false, 0, 0);
        uint256 idx = (round - e.startRound) * e.winnersPerRound + rank;
        return (true, idx >> 8, 1 << (idx & 255));
    }

    function _checkRound(uint256 escrowId, Sched memory m, uint256 round) private pure {
        if (round < m.startRound || round >= m.endRound) revert ConcurrentLotteryRoundOutOfSchedule(escrowId, round, m.startRound, m.endRound);
    }

    /// @dev The seed of `drawBlock`, recording it on first use.
    function _seed(uint256 drawBlock) private returns (bytes32 seed) {
        seed = _seeds[drawBlock];
        if (seed != 0) return seed;
        if (block.number <= drawBlock) revert ConcurrentLotteryDrawNotReached(drawBlock, block.number);
        seed = blockhash(drawBlock);
        if (seed == 0) revert ConcurrentLotteryDrawUnavailable(drawBlock, block.number);
        _seeds[drawBlock] = seed;
        emit DrawRecorded(drawBlock, seed);
    }

    function _checkBundle(uint256 escrowId, address owner, address server, SignedBundle calldata sb) private view {
        uint256 n = sb.tickets.length;
        bytes32 digest;
        if (sb.batch) {
            bytes32 root;
            for (uint256 i = 0; i < n; ++i) {
                TicketRef calldata t = sb.tickets[i];
                bytes32 r = MerkleProof.processProofCalldata(t.proof, ticketHash(escrowId, server, t.seq, t.round, t.salt));
                if (i == 0) root = r;
                else if (r != root) revert ConcurrentLotteryBadMerkleProof(escrowId, t.round, t.seq);
            }
            digest = batchDigest(escrowId, root);
        } else {
            if (n != 1 || sb.tickets[0].proof.length != 0) revert ConcurrentLotterySingleTicketBundle(n);
            TicketRef calldata t = sb.tickets[0];
            digest = _hashTypedDataV4(ticketHash(escrowId, server, t.seq, t.round, t.salt));
        }
        _checkSig(escrowId, owner, digest, sb.sig);
    }

    /// @dev The big-endian integer of `n` <= 32 bytes at offset `o` of `data` (the caller checks `o + n` against the
    /// length before it uses the value).
    function _u(bytes calldata data, uint256 o, uint256 n) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(sub(256, shl(3, n)), calldataload(add(data.offset, o)))
        }
    }

    /// @dev {ticketHash} without allocating memory (scratch beyond the free memory pointer).
    function _leaf(uint256 escrowId, address server, uint256 seq, uint256 round, bytes32 salt) private pure returns (bytes32 h) {
        bytes32 th = TICKET_TYPEHASH;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, th)
            mstore(add(p, 0x20), escrowId)
            mstore(add(p, 0x40), and(server, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(p, 0x60), seq)
            mstore(add(p, 0x80), round)
            mstore(add(p, 0xa0), salt)
            h := keccak256(p, 0xc0)
        }
    }

    /// @dev One escrow group of {redeemPacked} at offset `o`: checks and records its winners and updates the escrow
    /// as {redeemWinningTickets} does. Returns the amount owed to `server` and the offset after the group.
    function _redeemGroup(address server, bytes calldata data, uint256 o, bytes32 domain) private returns (uint256 amount, uint256) {
        if (o + 10 > data.length) revert ConcurrentLotteryBadPacking(o);
        uint256 escrowId = _u(data, o, 8);
        uint256 nb = _u(data, o + 8, 2);
        o += 10;
        Escrow storage e = _escrows[escrowId];
        address owner = e.owner;
        if (owner == address(0)) revert ConcurrentLotteryUnknownEscrow(escrowId);
        if (block.number > e.expiryBlock) revert ConcurrentLotteryEscrowExpired(escrowId, e.expiryBlock, block.number);
        Sched memory m = Sched(e.ticketValue, e.ticketsPerRound, e.winnersPerRound, e.roundLengthBlocks, e.drawDelayBlocks, e.startRound, e.endRound);
        mapping(uint256 => uint256) storage paid = _redeemed[escrowId];
        mapping(uint256 => uint256) storage mine = _paidTo[escrowId][server];
        uint256 count;
        uint256 lastRound = type(uint256).max;
        bytes32 key;
        uint256 w = type(uint256).max;
        uint256 paidWord;
        uint256 mineWord;
        for (uint256 b = 0; b < nb; ++b) {
            uint256 kind = _u(data, o, 1);
            uint256 round = _u(data, o + 1, 8);
            uint256 nt = _u(data, o + 73, 2);
            uint256 nodes = o + 76;
            uint256 nn = _u(data, o + 75, 1);
            if (kind > 1 || nt == 0 || nodes + 32 * nn > data.length) revert ConcurrentLotteryBadPacking(o);
            if (kind == 0 && (nt != 1 || nn != 0)) revert ConcurrentLotterySingleTicketBundle(nt);
            bytes32 r = bytes32(_u(data, o + 9, 32));
            bytes32 vs = bytes32(_u(data, o + 41, 32));
            o = nodes + 32 * nn;
            if (round != lastRound) {
                _checkRound(escrowId, m, round);
                key = keccak256(abi.encode(_seed(drawBlockOf(round, m.roundLengthBlocks, m.drawDelayBlocks)), escrowId, round));
                lastRound = round;
            }
            bytes32 root;
            for (uint256 i = 0; i < nt; ++i) {
                uint256 seq = _u(data, o, 4);
                bytes32 cur = _leaf(escrowId, server, seq, round, bytes32(_u(data, o + 4, 32)));
                uint256 plen = _u(data, o + 36, 1);
                if (o + 37 + plen > data.length) revert ConcurrentLotteryBadPacking(o);
                if (kind == 0 && plen != 0) revert ConcurrentLotterySingleTicketBundle(nt);
                for (uint256 j = 0; j < plen; ++j) {
                    uint256 ref = _u(data, o + 37 + j, 1);
                    if (ref >= nn) revert ConcurrentLotteryBadPacking(o + 37 + j);
                    bytes32 node = bytes32(_u(data, nodes + 32 * ref, 32));
                    assembly ("memory-safe") {
                        // OZ Hashes.commutativeKeccak256 in scratch space.
                        switch lt(cur, node)
                        case 0 { mstore(0x00, node) mstore(0x20, cur) }
                        default { mstore(0x00, cur) mstore(0x20, node) }
                        cur := keccak256(0x00, 0x40)
                    }
                }
                o += 37 + plen;
                if (i == 0) root = cur;
                else if (cur != root) revert ConcurrentLotteryBadMerkleProof(escrowId, round, seq);
                if (seq >= m.ticketsPerRound) revert ConcurrentLotterySeqOutOfSchedule(escrowId, seq, m.ticketsPerRound);
                uint256 rank = _permute(key, seq, m.ticketsPerRound);
                if (rank >= m.winnersPerRound) revert ConcurrentLotteryNotWinning(escrowId, round, seq, rank);
                uint256 idx = (round - m.startRound) * m.winnersPerRound + rank;
                if (idx >> 8 != w) {
                    if (w != type(uint256).max) {
                        paid[w] = paidWord;
                        mine[w] = mineWord;
                    }
                    w = idx >> 8;
                    paidWord = paid[w];
                    mineWord = mine[w];
                }
                uint256 bit = 1 << (idx & 255);
                if (paidWord & bit != 0) revert ConcurrentLotteryAlreadyRedeemed(escrowId, round, seq);
                paidWord |= bit;
                mineWord |= bit;
                ++count;
            }
            // The signature last: over the single ticket's digest, or the batch digest of the root all paths reach.
            bytes32 structHash = root;
            if (kind == 1) {
                bytes32 th = BATCH_TYPEHASH;
                assembly ("memory-safe") {
                    // keccak256(abi.encode(BATCH_TYPEHASH, escrowId, root)) beyond the free memory pointer.
                    let p := mload(0x40)
                    mstore(p, th)
                    mstore(add(p, 0x20), escrowId)
                    mstore(add(p, 0x40), root)
                    structHash := keccak256(p, 0x60)
                }
            }
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(MessageHashUtils.toTypedDataHash(domain, structHash), r, vs);
            if (err != ECDSA.RecoverError.NoError || signer != owner) revert ConcurrentLotteryInvalidSignature(escrowId, owner);
        }
        if (count != 0) {
            paid[w] = paidWord;
            mine[w] = mineWord;
            amount = count * m.ticketValue;
            // Safe by M2, as in redeemWinningTickets.
            e.balance -= amount;
            e.committed -= amount;
            emit WinnersRedeemed(escrowId, server, count, amount);
        }
        return (amount, o);
    }

    function _checkProof(uint256 escrowId, address owner, TicketProof calldata t) private view {
        bytes32 leaf = ticketHash(escrowId, t.server, t.seq, t.round, t.salt);
        bytes32 digest;
        if (t.batch) digest = batchDigest(escrowId, MerkleProof.processProofCalldata(t.proof, leaf));
        else digest = _hashTypedDataV4(leaf);
        _checkSig(escrowId, owner, digest, t.sig);
    }

    function _checkSig(uint256 escrowId, address owner, bytes32 digest, Sig calldata sig) private pure {
        // OZ tryRecover rejects high-s and v ∉ {27, 28}: one encoding per signature.
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, sig.v, sig.r, sig.s);
        if (err != ECDSA.RecoverError.NoError || signer != owner) revert ConcurrentLotteryInvalidSignature(escrowId, owner);
    }

    /// @dev π_key(x) over [0, n): a 4-round balanced Feistel network on 2h bits (4^h >= n), cycle-walked into
    /// [0, n). A bijection, so exactly W numbers have π < W. Expected walks < 4.
    function _permute(bytes32 key, uint256 x, uint256 n) private pure returns (uint256) {
        uint256 h = 1;
        while ((uint256(1) << (2 * h)) < n) ++h;
        uint256 mask = (uint256(1) << h) - 1;
        do {
            uint256 l = x >> h;
            uint256 r = x & mask;
            for (uint256 i = 0; i < 4; ++i) {
                uint256 f;
                assembly ("memory-safe") {
                    // Scratch beyond the free memory pointer: keccak256(key ‖ i ‖ r), nothing allocated.
                    let p := mload(0x40)
                    mstore(p, key)
                    mstore(add(p, 0x20), i)
                    mstore(add(p, 0x40), r)
                    f := keccak256(p, 0x60)
                }
                (l, r) = (r, l ^ (f & mask));
            }
            x = (l << h) | r;
        } while (x >= n);
        return x;
    }
}
