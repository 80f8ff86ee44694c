// SPDX-License-Identifier: Apache-2.0
using System.Numerics;

namespace Tyche.Capabilities;

/// <summary>Yields the indices of the set bits of a 64-bit map in ascending order (reference <c>utils::BitmapIterator</c>).</summary>
internal struct BitmapIterator
{
    private ulong _remaining;

    /// <summary>Creates an iterator over <paramref name="bitmap"/>.</summary>
    public BitmapIterator(ulong bitmap) => _remaining = bitmap;

    /// <summary>The next set bit, lowest first.</summary>
    public bool MoveNext(out int bit)
    {
        if (_remaining == 0)
        {
            bit = -1;
            return false;
        }

        bit = BitOperations.TrailingZeroCount(_remaining);
        _remaining &= _remaining - 1;
        return true;
    }
}
