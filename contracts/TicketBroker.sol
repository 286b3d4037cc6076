// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title TicketBroker — probabilistic micropayments ("lottery tickets") in one ERC-20 token.
/// @notice A sender (payer) funds a deposit, and optionally per-recipient reserves that guarantee chosen
/// recipients. It signs EIP-712 tickets; a ticket wins iff keccak256(r ‖ s ‖ v ‖ recipientRand) < winProb, where
/// the recipient committed to keccak256(recipientRand) before the sender signed. A winning ticket pays its full
/// face value to its recipient, or — when the sender's funds fall short — becomes a recorded claim that is paid
/// first from the sender's next funding. No ticket is ever paid below face or burned.
///
/// Who may redeem: only the ticket's recipient (`msg.sender == recipient`). A ticket pays its recipient whoever
/// submits it, so the rule costs an honest recipient nothing; it shuts out two attacks that work wherever anyone may
/// redeem and nonces are ordered: a sender redeeming a ticket it signed to the recipient under a rand of its own (face
/// value 0, a nonce above the recipient's winners) to void them, and a stranger lifting the highest-nonce ticket out
/// of a pending batch's calldata and mining it first.
///
/// Replay protection, per lane: `senderNonce` is `lane << 128 | seq`. The recipient picks the lane when it hands
/// out ticket parameters (one lane per concurrent session, per process or per store), and the sender counts `seq`
/// up within it. The broker keeps the highest redeemed `seq` + 1 per (sender, recipient, lane) and rejects any ticket
/// at or below it, so a recipient redeems a lane's winners in `seq` order, and one lane's redemptions never touch
/// another's. One storage word per lane, reused for the lane's whole life, instead of one fresh word per ticket, is
/// what keeps batch redemption cheap; `seq` < 2^128, so the counter can never wrap.
///
/// Invariants (tested by property tests against a TypeScript reference model):
///  I1 token.balanceOf(this) == Σ deposit + Σ reserve + Σ credit   (money is neither created nor lost)
///  I2 a (sender, recipient, nonce) is paid or queued at most once
///  I3 a recipient receives, per winning ticket, exactly its face value (now or as a claim later), never more
///  I4 only the sender's own calls change its unlock state
///  I5 nothing returns to the sender while it owes claims
///  I6 only a ticket's recipient can consume any of its nonces: once a recipient accepts a ticket in a lane above
///     that lane's redeemed seq, nothing the sender or a third party does stops it being paid at face or queued
///     as a claim (before its expiry)
contract TicketBroker is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------- types
    /// @notice What the sender signs (EIP-712 struct `Ticket`).
    struct Ticket {
        address recipient;
        address sender;
        uint256 faceValue;
        uint256 winProb; // numerator over 2^256; the ticket wins iff draw < winProb
        uint256 senderNonce; // lane << 128 | seq; seq strictly increasing per (sender, recipient, lane)
        bytes32 recipientRandHash; // keccak256(recipientRand), committed by the recipient
        uint256 expirationBlock; // last block at which the ticket may be redeemed
    }

    /// @notice A signed ticket with the recipient's revealed rand.
    struct SignedTicket {
        Ticket ticket;
        bytes32 r;
        bytes32 s;
        uint8 v;
        uint256 recipientRand;
    }

    /// @notice Winning tickets from one sender to the caller that share every signed field but their seq and rand:
    /// each costs its seq, signature and rand in calldata, the rest is sent once ({redeemRuns}).
    /// `tickets` is n records of 112 bytes: seq (16 bytes, big-endian) ‖ r (32) ‖ vs (32, EIP-2098: s with
    /// v - 27 in its top bit) ‖ recipientRand (32). Seqs strictly increase within a run.
    struct TicketRun {
        address sender;
        uint256 faceValue;
        uint256 winProb;
        uint256 expirationBlock;
        uint128 lane;
        bytes tickets;
    }

    struct Sender {
        uint256 deposit;
        uint256 withdrawBlock; // 0 = locked; else the block from which withdrawal is allowed
        uint256 debt; // Σ unpaid claims
    }

    struct Claim {
        address recipient;
        uint256 amount;
    }

    bytes32 public constant TICKET_TYPEHASH = keccak256(
        "Ticket(address recipient,address sender,uint256 faceValue,uint256 winProb,uint256 senderNonce,bytes32 recipientRandHash,uint256 expirationBlock)"
    );

    // ---------------------------------------------------------------- state
    IERC20 public immutable token;
    /// @notice Blocks between {unlock} and the first block at which funds may be withdrawn.
    uint256 public immutable unlockPeriod;

    mapping(address sender => Sender) private _senders;
    mapping(address sender => mapping(address recipient => uint256)) private _reserves;
    /// @dev keccak256(sender, recipient, lane) => highest redeemed seq + 1 in that lane.
    mapping(bytes32 laneKey => uint256) private _laneNext;
    mapping(address sender => Claim[]) private _claims;
    mapping(address sender => uint256) private _claimHead;
    /// @dev What {redeemRuns} paid a recipient and kept for it until {withdrawCredit}.
    mapping(address recipient => uint256) private _credits;

    // ---------------------------------------------------------------- errors
    error TicketBrokerZeroAmount();
    error TicketBrokerZeroAddress();
    error TicketBrokerInvalidRecipientRand(bytes32 expectedHash, uint256 rand);
    error TicketBrokerTicketExpired(uint256 expirationBlock, uint256 currentBlock);
    error TicketBrokerNonceUsed(address sender, address recipient, uint256 nonce, uint256 nextAllowed);
    error TicketBrokerInvalidSignature(address expectedSender);
    error TicketBrokerNotWinning(uint256 draw, uint256 winProb);
    error TicketBrokerNotUnlocked(address sender);
    error TicketBrokerAlreadyUnlocking(address sender, uint256 withdrawBlock);
    error TicketBrokerUnlockPending(address sender, uint256 withdrawBlock, uint256 currentBlock);
    error TicketBrokerClaimsOutstanding(address sender, uint256 debt);
    error TicketBrokerNotRecipient(address recipient, address caller);
    error TicketBrokerNothingToWithdraw(address sender);
    error TicketBrokerLaneOutOfRange(uint256 lane);
    error TicketBrokerBadRun(uint256 index, uint256 length);
    error TicketBrokerNoCredit(address recipient);

    // ---------------------------------------------------------------- events
    event DepositFunded(address indexed sender, uint256 amount, uint256 deposit);
    event ReserveFunded(address indexed sender, address indexed recipient, uint256 amount, uint256 reserve);
    event UnlockStarted(address indexed sender, uint256 withdrawBlock);
    event UnlockCancelled(address indexed sender);
    event Withdrawn(address indexed sender, uint256 deposit, uint256 reserves);
    event WinningTicketRedeemed(
        address indexed sender, address indexed recipient, uint256 faceValue, uint256 senderNonce, uint256 fromDeposit, uint256 fromReserve
    );
    /// @notice The paid tickets of one {TicketRun}: `seqs` holds each paid ticket's seq (16 bytes each, in order);
    /// `fromDeposit` + `fromReserve` = faceValue × (seqs.length / 16). A ticket of the run that became a claim emits
    /// {ClaimQueued} instead.
    event TicketsRedeemed(
        address indexed sender, address indexed recipient, uint256 lane, uint256 faceValue, uint256 fromDeposit, uint256 fromReserve, bytes seqs
    );
    event CreditWithdrawn(address indexed recipient, uint256 amount);
    event ClaimQueued(address indexed sender, address indexed recipient, uint256 faceValue, uint256 senderNonce);
    event ClaimPaid(address indexed sender, address indexed recipient, uint256 amount, uint256 remaining);

    constructor(IERC20 token_, uint256 unlockPeriod_) EIP712("Souk TicketBroker", "1") {
        if (address(token_) == address(0)) revert TicketBrokerZeroAddress();
        token = token_;
        unlockPeriod = unlockPeriod_;
    }

    // ---------------------------------------------------------------- views
    /// @notice The sender's deposit, unlock block (0 = locked) and outstanding claims.
    function getSender(address sender) external view returns (uint256 deposit, uint256 withdrawBlock, uint256 debt) {
        Sender storage s = _senders[sender];
        return (s.deposit, s.withdrawBlock, s.debt);
    }

    /// @notice The reserve `sender` holds for `recipient` only.
    function reserveOf(address sender, address recipient) external view returns (uint256) {
        return _reserves[sender][recipient];
    }

    /// @notice The lowest `senderNonce` a ticket from `sender` to `recipient` in `lane` may carry to still be
    /// redeemable: `lane << 128 | (highest redeemed seq + 1)`. Reverts for `lane >= 2^128`.
    function nextNonce(address sender, address recipient, uint256 lane) external view returns (uint256) {
        if (lane > type(uint128).max) revert TicketBrokerLaneOutOfRange(lane);
        return (lane << 128) | _laneNext[_laneKey(sender, recipient, lane)];
    }

    /// @notice What redeemed tickets paid `recipient` that it has not withdrawn yet ({withdrawCredit}).
    function creditOf(address recipient) external view returns (uint256) {
        return _credits[recipient];
    }

    /// @notice Number of claims not yet paid in full for `sender`.
    function pendingClaims(address sender) external view returns (uint256) {
        return _claims[sender].length - _claimHead[sender];
    }

    /// @notice The EIP-712 digest the sender signs for `t`.
    function ticketDigest(Ticket calldata t) public view returns (bytes32) {
        return _hashTypedDataV4(_structHash(t));
    }

    /// @notice Whether a ticket signature with this rand wins (pure draw, no other checks).
    function isWinning(bytes32 r, bytes32 s, uint8 v, uint256 recipientRand, uint256 winProb) public pure returns (bool) {
        return uint256(keccak256(abi.encodePacked(r, s, v, recipientRand))) < winProb;
    }

    // ---------------------------------------------------------------- funding
    /// @notice Adds `amount` to the caller's deposit; outstanding claims are paid first.
    /// Emits {DepositFunded} and a {ClaimPaid} per claim it pays.
    function fundDeposit(uint256 amount) external nonReentrant {
        if (amount == 0) revert TicketBrokerZeroAmount();
        token.safeTransferFrom(msg.sender, address(this), amount);
        Sender storage s = _senders[msg.sender];
        s.deposit += amount;
        emit DepositFunded(msg.sender, amount, s.deposit);
        _payClaims(msg.sender, s);
    }

    /// @notice Adds `amount` to the reserve the caller holds for `recipient` only; while claims are queued, the
    /// part of `amount` they need pays them first.
    /// NOTE: a reserve guarantees that recipient's winning tickets once the deposit is spent; it returns to the
    /// sender only through {unlock} and {withdraw}. Emits {ReserveFunded}.
    function fundReserve(address recipient, uint256 amount) external nonReentrant {
        if (amount == 0) revert TicketBrokerZeroAmount();
        if (recipient == address(0)) revert TicketBrokerZeroAddress();
        token.safeTransferFrom(msg.sender, address(this), amount);
        Sender storage s = _senders[msg.sender];
        // Claims are paid first from any new funding: the part the deposit does not already cover moves to the
        // deposit and pays them.
        uint256 uncovered = s.debt > s.deposit ? s.debt - s.deposit : 0;
        uint256 toClaims = uncovered <= amount ? uncovered : amount;
        uint256 toReserve = amount - toClaims;
        s.deposit += toClaims;
        uint256 reserve = _reserves[msg.sender][recipient] + toReserve;
        _reserves[msg.sender][recipient] = reserve;
        emit ReserveFunded(msg.sender, recipient, toReserve, reserve);
        _payClaims(msg.sender, s);
    }

    /// @notice Starts the unlock period for the caller's funds. Emits {UnlockStarted}.
    function unlock() external {
        Sender storage s = _senders[msg.sender];
        if (s.withdrawBlock != 0) revert TicketBrokerAlreadyUnlocking(msg.sender, s.withdrawBlock);
        uint256 withdrawAt = block.number + unlockPeriod;
        s.withdrawBlock = withdrawAt;
        emit UnlockStarted(msg.sender, withdrawAt);
    }

    /// @notice Cancels the caller's unlock. Only the sender itself can do this. Emits {UnlockCancelled}.
    function cancelUnlock() external {
        Sender storage s = _senders[msg.sender];
        if (s.withdrawBlock == 0) revert TicketBrokerNotUnlocked(msg.sender);
        s.withdrawBlock = 0;
        emit UnlockCancelled(msg.sender);
    }

    /// @notice After the unlock period, pays outstanding claims from the deposit, then returns the rest of the
    /// deposit and the reserves held for `recipients` to the caller. Reverts while claims remain unpaid.
    /// Emits {Withdrawn}.
    function withdraw(address[] calldata recipients) external nonReentrant {
        Sender storage s = _senders[msg.sender];
        if (s.withdrawBlock == 0) revert TicketBrokerNotUnlocked(msg.sender);
        if (block.number < s.withdrawBlock) revert TicketBrokerUnlockPending(msg.sender, s.withdrawBlock, block.number);
        _payClaims(msg.sender, s);
        if (s.debt != 0) revert TicketBrokerClaimsOutstanding(msg.sender, s.debt);
        uint256 dep = s.deposit;
        uint256 res;
        for (uint256 i = 0; i < recipients.length; ++i) {
            res += _reserves[msg.sender][recipients[i]];
            _reserves[msg.sender][recipients[i]] = 0;
        }
        if (dep + res == 0) revert TicketBrokerNothingToWithdraw(msg.sender);
        s.deposit = 0;
        s.withdrawBlock = 0;
        emit Withdrawn(msg.sender, dep, res);
        token.safeTransfer(msg.sender, dep + res);
    }

    // ---------------------------------------------------------------- redemption
    /// @notice Redeems one winning ticket; only its recipient may call. Pays its face value to the recipient from
    /// the deposit, then the recipient's reserve; if both together fall short, nothing is taken and the full face
    /// value is queued as a claim. Emits {WinningTicketRedeemed} or {ClaimQueued}.
    function redeemWinningTicket(SignedTicket calldata st) external nonReentrant {
        uint256 pay = _redeem(st);
        if (pay != 0) token.safeTransfer(st.ticket.recipient, pay);
    }

    /// @notice Redeems the caller's winning tickets in one token transfer; every ticket must name the caller as its
    /// recipient. Tickets of one (sender, lane) must come in increasing nonce order. The whole batch reverts if any
    /// ticket is invalid, so a recipient should pre-check with {isWinning}/{nextNonce}.
    function batchRedeemWinningTickets(SignedTicket[] calldata tickets) external nonReentrant {
        uint256 n = tickets.length;
        if (n == 0) return;
        uint256 total;
        for (uint256 i = 0; i < n; ++i) total += _redeem(tickets[i]);
        if (total != 0) token.safeTransfer(msg.sender, total);
    }

    /// @notice Redeems the caller's winning tickets given as runs ({TicketRun}): the cheap batch format. Each
    /// ticket is checked exactly as {redeemWinningTicket} checks it, with the caller as its recipient and
    /// keccak256(rand) as its committed rand hash, in this order: run shape, sender, expiry, then per ticket nonce,
    /// signature, draw. The whole call reverts if any ticket is invalid. What the tickets pay goes to the caller in
    /// one token transfer when `payNow`, else to its credit ({creditOf}, {withdrawCredit}): no token call at all,
    /// the cheapest way to redeem a few winners. Emits one {TicketsRedeemed} per run with a paid ticket and a
    /// {ClaimQueued} per ticket that became a claim.
    function redeemRuns(TicketRun[] calldata runs, bool payNow) external nonReentrant {
        uint256 total;
        bytes32 domain = _domainSeparatorV4();
        for (uint256 i = 0; i < runs.length; ++i) total += _redeemRun(runs[i], i, domain);
        if (total == 0) return;
        if (payNow) token.safeTransfer(msg.sender, total);
        else _credits[msg.sender] += total;
    }

    /// @notice Sends the caller its whole credit (what {redeemRuns} kept for it). Emits {CreditWithdrawn}.
    function withdrawCredit() external nonReentrant {
        uint256 amount = _credits[msg.sender];
        if (amount == 0) revert TicketBrokerNoCredit(msg.sender);
        _credits[msg.sender] = 0;
        emit CreditWithdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice Pays up to 32 of `sender`'s queued claims from its deposit. Anyone may call it.
    function settleClaims(address sender) external nonReentrant {
        _payClaims(sender, _senders[sender]);
    }

    // ---------------------------------------------------------------- internals
    function _structHash(Ticket calldata t) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                TICKET_TYPEHASH, t.recipient, t.sender, t.faceValue, t.winProb, t.senderNonce, t.recipientRandHash, t.expirationBlock
            )
        );
    }

    function _laneKey(address sender, address recipient, uint256 lane) private pure returns (bytes32 key) {
        assembly ("memory-safe") {
            // keccak256(abi.encode(sender, recipient, lane)) in scratch memory beyond the free pointer.
            let p := mload(0x40)
            mstore(p, sender)
            mstore(add(p, 0x20), recipient)
            mstore(add(p, 0x40), lane)
            key := keccak256(p, 0x60)
        }
    }

    /// @dev Validates one ticket, consumes its nonce, and debits the sender. Returns the amount to transfer now
    /// (0 when the ticket became a claim). Effects only; the caller transfers (to msg.sender, its recipient).
    function _redeem(SignedTicket calldata st) private returns (uint256) {
        Ticket calldata t = st.ticket;
        if (t.recipient != msg.sender) revert TicketBrokerNotRecipient(t.recipient, msg.sender);
        if (t.sender == address(0)) revert TicketBrokerZeroAddress();
        if (block.number > t.expirationBlock) revert TicketBrokerTicketExpired(t.expirationBlock, block.number);
        if (keccak256(abi.encode(st.recipientRand)) != t.recipientRandHash) {
            revert TicketBrokerInvalidRecipientRand(t.recipientRandHash, st.recipientRand);
        }
        uint256 lane = t.senderNonce >> 128;
        uint256 seq = t.senderNonce & type(uint128).max;
        bytes32 laneKey = _laneKey(t.sender, t.recipient, lane);
        uint256 next = _laneNext[laneKey];
        if (seq < next) revert TicketBrokerNonceUsed(t.sender, t.recipient, t.senderNonce, (lane << 128) | next);
        // OZ ECDSA.recover rejects high-s and v ∉ {27, 28}: exactly one encoding per signature (one draw).
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(_hashTypedDataV4(_structHash(t)), st.v, st.r, st.s);
        if (err != ECDSA.RecoverError.NoError || signer != t.sender) revert TicketBrokerInvalidSignature(t.sender);
        uint256 draw = uint256(keccak256(abi.encodePacked(st.r, st.s, st.v, st.recipientRand)));
        if (draw >= t.winProb) revert TicketBrokerNotWinning(draw, t.winProb);
        // Safe: seq < 2^128, so seq + 1 <= 2^128 never wraps (a wrap would reopen the lane's nonces for replay).
        unchecked {
            _laneNext[laneKey] = seq + 1;
        }

        Sender storage s = _senders[t.sender];
        uint256 face = t.faceValue;
        uint256 reserve = _reserves[t.sender][t.recipient];
        // Older claims come first: while any are queued, the deposit belongs to them.
        uint256 dep = s.debt == 0 ? s.deposit : 0;
        if (dep + reserve < face) {
            s.debt += face;
            _claims[t.sender].push(Claim(t.recipient, face));
            emit ClaimQueued(t.sender, t.recipient, face, t.senderNonce);
            return 0;
        }
        uint256 fromDeposit = face <= dep ? face : dep;
        uint256 fromReserve = face - fromDeposit;
        // Safe: fromDeposit <= s.deposit and fromReserve <= reserve by the check above.
        unchecked {
            s.deposit -= fromDeposit;
            if (fromReserve != 0) _reserves[t.sender][t.recipient] = reserve - fromReserve;
        }
        emit WinningTicketRedeemed(t.sender, t.recipient, face, t.senderNonce, fromDeposit, fromReserve);
        return face;
    }

    /// @dev One run of {redeemRuns}: the checks of {_redeem} per ticket, with the lane word, the sender's balances
    /// and the reserve read once and written once. Returns the amount to transfer now.
    function _redeemRun(TicketRun calldata run, uint256 index, bytes32 domain) private returns (uint256 paid) {
        bytes calldata data = run.tickets;
        uint256 n = data.length / 112;
        if (n == 0 || data.length != n * 112) revert TicketBrokerBadRun(index, data.length);
        address sender = run.sender;
        if (sender == address(0)) revert TicketBrokerZeroAddress();
        if (block.number > run.expirationBlock) revert TicketBrokerTicketExpired(run.expirationBlock, block.number);
        uint256 lane = run.lane;
        uint256 face = run.faceValue;
        uint256 winProb = run.winProb;
        bytes32 laneKey = _laneKey(sender, msg.sender, lane);
        uint256 next = _laneNext[laneKey];
        Sender storage s = _senders[sender];
        uint256 deposit = s.deposit;
        uint256 debt = s.debt;
        // The reserve is read only when a ticket needs it (the deposit pays first): one cold read saved otherwise.
        uint256 reserve;
        bool reserveRead;
        uint256 fromDeposit;
        // The struct hash's fixed words, written once; nonce (word 5) and rand hash (word 6) change per ticket.
        uint256 h;
        bytes32 typeHash = TICKET_TYPEHASH;
        uint256 expiry = run.expirationBlock;
        bytes memory seqs = new bytes(n * 16);
        assembly ("memory-safe") {
            h := mload(0x40)
            mstore(0x40, add(h, 0x100))
            mstore(h, typeHash)
            mstore(add(h, 0x20), caller())
            mstore(add(h, 0x40), sender)
            mstore(add(h, 0x60), face)
            mstore(add(h, 0x80), winProb)
            mstore(add(h, 0xe0), expiry)
        }
        uint256 count;
        for (uint256 k = 0; k < n; ++k) {
            uint256 seq;
            bytes32 r;
            bytes32 vs;
            uint256 rand;
            bytes32 structHash;
            assembly ("memory-safe") {
                let p := add(data.offset, mul(k, 112))
                seq := shr(128, calldataload(p))
                r := calldataload(add(p, 16))
                vs := calldataload(add(p, 48))
                rand := calldataload(add(p, 80))
                mstore(0, rand)
                mstore(add(h, 0xc0), keccak256(0, 0x20))
                mstore(add(h, 0xa0), or(shl(128, lane), seq))
                structHash := keccak256(h, 0x100)
            }
            if (seq < next) revert TicketBrokerNonceUsed(sender, msg.sender, (lane << 128) | seq, (lane << 128) | next);
            // The EIP-2098 form decodes to exactly one (v, s) with s <= n/2 (OZ rejects a high s): one draw.
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(MessageHashUtils.toTypedDataHash(domain, structHash), r, vs);
            if (err != ECDSA.RecoverError.NoError || signer != sender) revert TicketBrokerInvalidSignature(sender);
            uint256 draw;
            assembly ("memory-safe") {
                // keccak256(r ‖ s ‖ v ‖ rand), 97 bytes, as the 65-byte signature form draws it.
                let p := mload(0x40)
                mstore(p, r)
                mstore(add(p, 0x20), and(vs, 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff))
                mstore8(add(p, 0x40), add(27, shr(255, vs)))
                mstore(add(p, 0x41), rand)
                draw := keccak256(p, 0x61)
            }
            if (draw >= winProb) revert TicketBrokerNotWinning(draw, winProb);
            // Safe: seq < 2^128 (16 bytes), so seq + 1 never wraps.
            unchecked {
                next = seq + 1;
            }
            uint256 dep = debt == 0 ? deposit : 0;
            if (dep < face && !reserveRead) {
                reserve = _reserves[sender][msg.sender];
                reserveRead = true;
            }
            if (dep + reserve < face) {
                debt += face;
                _claims[sender].push(Claim(msg.sender, face));
                emit ClaimQueued(sender, msg.sender, face, (lane << 128) | seq);
                continue;
            }
            uint256 d = face <= dep ? face : dep;
            // Safe: d <= deposit and face - d <= reserve by the check above.
            unchecked {
                deposit -= d;
                reserve -= face - d;
                fromDeposit += d;
            }
            assembly ("memory-safe") {
                let q := add(add(seqs, 0x20), mul(count, 16))
                mstore(q, or(shl(128, seq), and(mload(q), 0xffffffffffffffffffffffffffffffff)))
            }
            ++count;
        }
        _laneNext[laneKey] = next;
        s.deposit = deposit;
        if (debt != s.debt) s.debt = debt;
        if (reserveRead) _reserves[sender][msg.sender] = reserve;
        if (count == 0) return 0;
        assembly ("memory-safe") {
            mstore(seqs, mul(count, 16))
        }
        unchecked {
            paid = face * count;
            emit TicketsRedeemed(sender, msg.sender, lane, face, fromDeposit, paid - fromDeposit, seqs);
        }
    }

    /// @dev Pays queued claims in order from the deposit, at most 32 per call (bounded gas). Partial payment of
    /// the head claim is allowed: claims are debts, paid in full over time, never forgiven. Effects first, then
    /// the transfers.
    function _payClaims(address sender, Sender storage s) private {
        if (s.debt == 0 || s.deposit == 0) return;
        Claim[] storage q = _claims[sender];
        uint256 head = _claimHead[sender];
        uint256 end = q.length;
        address[] memory to = new address[](32);
        uint256[] memory amt = new uint256[](32);
        uint256 k;
        for (; k < 32 && head < end && s.deposit != 0; ++k) {
            Claim storage c = q[head];
            uint256 pay = c.amount <= s.deposit ? c.amount : s.deposit;
            // Safe: pay <= s.deposit, pay <= c.amount <= s.debt.
            unchecked {
                s.deposit -= pay;
                s.debt -= pay;
                c.amount -= pay;
            }
            to[k] = c.recipient;
            amt[k] = pay;
            emit ClaimPaid(sender, c.recipient, pay, c.amount);
            if (c.amount == 0) {
                delete q[head];
                ++head;
            }
        }
        _claimHead[sender] = head;
        for (uint256 i = 0; i < k; ++i) token.safeTransfer(to[i], amt[i]);
    }
}
