// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Security.Cryptography;

namespace Tyche.Attestation.Verification;

/// <summary>Issues random single-use nonces that expire, so a verifier can refuse replayed evidence. Thread-safe.</summary>
public sealed class NonceTracker
{
    /// <summary>Length of issued nonces (32 bytes, the SHA-256 digest size).</summary>
    public const int NonceLength = 32;

    private readonly TimeSpan _lifetime;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, DateTimeOffset> _outstanding = [];
    private readonly object _gate = new();

    /// <summary>Creates a tracker whose nonces are valid for <paramref name="lifetime"/>.</summary>
    public NonceTracker(TimeSpan lifetime, TimeProvider? time = null)
    {
        _lifetime = lifetime;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Issues a fresh nonce.</summary>
    public byte[] Issue()
    {
        byte[] nonce = RandomNumberGenerator.GetBytes(NonceLength);
        lock (_gate) _outstanding[Convert.ToHexString(nonce)] = _time.GetUtcNow() + _lifetime;
        return nonce;
    }

    /// <summary>Consumes a nonce: true once for an issued, unexpired nonce; false if unknown, expired or already used.</summary>
    public bool TryConsume(ReadOnlySpan<byte> nonce)
    {
        string key = Convert.ToHexString(nonce);
        lock (_gate)
        {
            if (!_outstanding.Remove(key, out DateTimeOffset expiry)) return false;
            return _time.GetUtcNow() <= expiry;
        }
    }
}
