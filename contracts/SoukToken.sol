// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title SoukToken — the fake coin of dev chains and testnets.
/// @notice A plain ERC-20 with a rate-limited faucet. Never deploy it where the token should have value.
contract SoukToken is ERC20 {
    /// @notice Most a single faucet call may mint.
    uint256 public immutable faucetCap;

    /// @notice The amount requested exceeds {faucetCap}.
    error SoukTokenFaucetCapExceeded(uint256 requested, uint256 cap);

    /// @notice Emitted when the faucet mints `amount` to `to`.
    event FaucetDripped(address indexed to, uint256 amount);

    constructor(string memory name_, string memory symbol_, uint256 faucetCap_) ERC20(name_, symbol_) {
        faucetCap = faucetCap_;
    }

    /// @notice Mints up to {faucetCap} fake coins to `to`. Emits a {FaucetDripped} event.
    function faucet(address to, uint256 amount) external {
        if (amount > faucetCap) revert SoukTokenFaucetCapExceeded(amount, faucetCap);
        _mint(to, amount);
        emit FaucetDripped(to, amount);
    }
}
