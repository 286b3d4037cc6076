// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title PaymentChannel — unidirectional payment channels with cumulative EIP-712 vouchers.
/// @notice A sender opens a channel to one recipient with a deposit and signs vouchers carrying the cumulative
/// amount owed; the recipient keeps only the latest. The recipient may collect at any time or close at once;
/// the sender may start a close that settles after `settleDelay` blocks, during which the recipient can answer
/// with a newer voucher. At settlement the recipient gets what the best voucher says and the sender the rest.
///
/// A voucher above the deposit pays the whole deposit: it is the sender's signed promise of that much in total,
/// and the channel pays as much of it as it holds (`min(cumulativeAmount, deposit)`), never reverting. Reverting
/// would let a sender void a recipient's latest voucher whenever the deposit the recipient relied on is not the
/// one on chain (a top-up dropped by a reorg or replaced in the mempool, a stale read): the recipient, which keeps
/// only its latest voucher, would be left with what it had already collected. Capping never pays more than a
/// voucher says, and after a top-up the same voucher collects the rest of what it promises. While a channel is
/// open its deposit only grows (there is no withdrawal; the sender's way out is {startClose}, which freezes it),
/// so a voucher the recipient accepted within the deposit stays fully payable. The recipient's off-chain check
/// (src/payments/channel/payee.ts: it refuses vouchers above the deposit it reads) is what keeps it from
/// serving more than is backed; the contract does not need to guard it.
///
/// Invariants (tested by property tests against a TypeScript reference model):
///  C1 token.balanceOf(this) == Σ over open channels (deposit - paid)
///  C2 paid never decreases and never exceeds deposit; a recipient never gets more than a signed voucher says
///     (what a voucher pays is min(cumulativeAmount, deposit))
///  C3 a closed channel can never pay again
contract PaymentChannel is EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    struct Channel {
        address sender;
        address recipient;
        uint256 deposit;
        uint256 paid; // cumulative amount already transferred to the recipient
        uint256 closingAmount; // best cumulative amount proven while closing
        uint256 settleBlock; // 0 = open; else the block from which {settle} may run
    }

    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint256 cumulativeAmount)");

    IERC20 public immutable token;
    uint256 public immutable settleDelay;

    mapping(bytes32 id => Channel) private _channels;
    mapping(address sender => uint256) public openedCount;

    error PaymentChannelZeroAmount();
    error PaymentChannelZeroAddress();
    error PaymentChannelUnknown(bytes32 channelId);
    error PaymentChannelNotSender(bytes32 channelId, address caller);
    error PaymentChannelNotRecipient(bytes32 channelId, address caller);
    error PaymentChannelInvalidVoucher(bytes32 channelId);
    error PaymentChannelAlreadyClosing(bytes32 channelId, uint256 settleBlock);
    error PaymentChannelNotClosing(bytes32 channelId);
    error PaymentChannelSettlePending(bytes32 channelId, uint256 settleBlock, uint256 currentBlock);

    event ChannelOpened(bytes32 indexed channelId, address indexed sender, address indexed recipient, uint256 deposit);
    event ChannelToppedUp(bytes32 indexed channelId, uint256 amount, uint256 deposit);
    event ChannelCollected(bytes32 indexed channelId, uint256 amount, uint256 paid);
    event ChannelCloseStarted(bytes32 indexed channelId, uint256 closingAmount, uint256 settleBlock);
    event ChannelChallenged(bytes32 indexed channelId, uint256 closingAmount);
    event ChannelSettled(bytes32 indexed channelId, uint256 toRecipient, uint256 toSender);

    constructor(IERC20 token_, uint256 settleDelay_) EIP712("Souk PaymentChannel", "1") {
        if (address(token_) == address(0)) revert PaymentChannelZeroAddress();
        token = token_;
        settleDelay = settleDelay_;
    }

    /// @notice The state of a channel (all zero if unknown or settled).
    function getChannel(bytes32 channelId) external view returns (Channel memory) {
        return _channels[channelId];
    }

    /// @notice The id the caller's next channel will get.
    function nextChannelId(address sender, address recipient) public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), sender, recipient, openedCount[sender]));
    }

    /// @notice The EIP-712 digest a sender signs for a voucher.
    function voucherDigest(bytes32 channelId, uint256 cumulativeAmount) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, cumulativeAmount)));
    }

    /// @notice Opens a channel to `recipient` holding `amount`. Emits {ChannelOpened}.
    function open(address recipient, uint256 amount) external nonReentrant returns (bytes32 channelId) {
        if (amount == 0) revert PaymentChannelZeroAmount();
        if (recipient == address(0)) revert PaymentChannelZeroAddress();
        channelId = nextChannelId(msg.sender, recipient);
        openedCount[msg.sender] += 1;
        _channels[channelId] = Channel(msg.sender, recipient, amount, 0, 0, 0);
        emit ChannelOpened(channelId, msg.sender, recipient, amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Adds `amount` to an open channel. Only its sender; not while closing. Emits {ChannelToppedUp}.
    function topUp(bytes32 channelId, uint256 amount) external nonReentrant {
        if (amount == 0) revert PaymentChannelZeroAmount();
        Channel storage c = _open(channelId);
        if (c.sender != msg.sender) revert PaymentChannelNotSender(channelId, msg.sender);
        c.deposit += amount;
        emit ChannelToppedUp(channelId, amount, c.deposit);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice The recipient collects what a voucher adds over what was already paid, up to the deposit (a voucher
    /// above the deposit collects the whole deposit, and the rest after a top-up); the channel stays open.
    /// Emits {ChannelCollected}.
    function collect(bytes32 channelId, uint256 cumulativeAmount, bytes calldata signature) external nonReentrant {
        Channel storage c = _open(channelId);
        if (c.recipient != msg.sender) revert PaymentChannelNotRecipient(channelId, msg.sender);
        uint256 due = _checkVoucher(channelId, c, cumulativeAmount, signature);
        uint256 amount = due > c.paid ? due - c.paid : 0;
        if (amount == 0) return;
        c.paid = due;
        emit ChannelCollected(channelId, amount, due);
        token.safeTransfer(c.recipient, amount);
    }

    /// @notice The recipient closes at once with its best voucher (or none: `cumulativeAmount` = 0 and an
    /// empty signature); it gets what the voucher adds, up to the deposit, and the sender the rest.
    /// Emits {ChannelSettled}.
    function closeByRecipient(bytes32 channelId, uint256 cumulativeAmount, bytes calldata signature) external nonReentrant {
        Channel storage c = _channels[channelId];
        if (c.sender == address(0)) revert PaymentChannelUnknown(channelId);
        if (c.recipient != msg.sender) revert PaymentChannelNotRecipient(channelId, msg.sender);
        uint256 best = c.closingAmount > c.paid ? c.closingAmount : c.paid;
        if (cumulativeAmount > best) best = _checkVoucher(channelId, c, cumulativeAmount, signature); // >= best: best <= deposit
        _settle(channelId, c, best);
    }

    /// @notice The sender starts closing; settlement is possible after `settleDelay` blocks. Emits
    /// {ChannelCloseStarted}.
    function startClose(bytes32 channelId) external {
        Channel storage c = _channels[channelId];
        if (c.sender == address(0)) revert PaymentChannelUnknown(channelId);
        if (c.sender != msg.sender) revert PaymentChannelNotSender(channelId, msg.sender);
        if (c.settleBlock != 0) revert PaymentChannelAlreadyClosing(channelId, c.settleBlock);
        c.settleBlock = block.number + settleDelay;
        c.closingAmount = c.paid;
        emit ChannelCloseStarted(channelId, c.paid, c.settleBlock);
    }

    /// @notice During the settle delay, anyone may present a newer voucher; the best one counts, up to the deposit.
    /// Emits {ChannelChallenged}.
    function challenge(bytes32 channelId, uint256 cumulativeAmount, bytes calldata signature) external {
        Channel storage c = _channels[channelId];
        if (c.sender == address(0)) revert PaymentChannelUnknown(channelId);
        if (c.settleBlock == 0) revert PaymentChannelNotClosing(channelId);
        if (block.number >= c.settleBlock) revert PaymentChannelSettlePending(channelId, c.settleBlock, block.number);
        uint256 due = _checkVoucher(channelId, c, cumulativeAmount, signature);
        if (due > c.closingAmount) {
            c.closingAmount = due;
            emit ChannelChallenged(channelId, due);
        }
    }

    /// @notice After the settle delay, pays the recipient per the best voucher and refunds the sender.
    /// Anyone may call it. Emits {ChannelSettled}.
    function settle(bytes32 channelId) external nonReentrant {
        Channel storage c = _channels[channelId];
        if (c.sender == address(0)) revert PaymentChannelUnknown(channelId);
        if (c.settleBlock == 0) revert PaymentChannelNotClosing(channelId);
        if (block.number < c.settleBlock) revert PaymentChannelSettlePending(channelId, c.settleBlock, block.number);
        _settle(channelId, c, c.closingAmount);
    }

    function _open(bytes32 channelId) private view returns (Channel storage c) {
        c = _channels[channelId];
        if (c.sender == address(0)) revert PaymentChannelUnknown(channelId);
        if (c.settleBlock != 0) revert PaymentChannelAlreadyClosing(channelId, c.settleBlock);
    }

    /// @dev Reverts unless `signature` is the sender's canonical signature of the voucher; returns what the voucher
    /// can pay: `min(cumulativeAmount, deposit)`.
    function _checkVoucher(bytes32 channelId, Channel storage c, uint256 cumulativeAmount, bytes calldata signature)
        private
        view
        returns (uint256 due)
    {
        // ECDSA.tryRecover(bytes) takes only 65-byte, low-s signatures.
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(voucherDigest(channelId, cumulativeAmount), signature);
        if (err != ECDSA.RecoverError.NoError || signer != c.sender || signature.length != 65) {
            revert PaymentChannelInvalidVoucher(channelId);
        }
        uint256 deposit = c.deposit;
        due = cumulativeAmount < deposit ? cumulativeAmount : deposit;
    }

    /// @dev Pays `best - paid` to the recipient and the rest to the sender, then deletes the channel (C3).
    function _settle(bytes32 channelId, Channel storage c, uint256 best) private {
        uint256 toRecipient = best > c.paid ? best - c.paid : 0;
        uint256 toSender = c.deposit - c.paid - toRecipient;
        address sender = c.sender;
        address recipient = c.recipient;
        delete _channels[channelId];
        emit ChannelSettled(channelId, toRecipient, toSender);
        if (toRecipient != 0) token.safeTransfer(recipient, toRecipient);
        if (toSender != 0) token.safeTransfer(sender, toSender);
    }
}
