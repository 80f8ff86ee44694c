// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Tyche.Capabilities.Scenarios;

/// <summary>Parsers for the argument syntax of the scenario language and the formatting helpers of its output.</summary>
internal static class ScenarioSyntax
{
    /// <summary>The letters of the OPS syntax, in bit order (R=1, W=2, X=4, S=8, H=16, C=32, V=64).</summary>
    internal const string OpsLetters = "RWXSHCV";

    /// <summary>The PERMS names, in bit order (SPAWN=1, SEND=2, DUPLICATE=4, ALIAS=8, CARVE=16).</summary>
    private static readonly string[] s_permissionNames = ["SPAWN", "SEND", "DUPLICATE", "ALIAS", "CARVE"];

    /// <summary>Parses a decimal or <c>0x</c> hexadecimal unsigned number.</summary>
    public static bool TryParseNumber(ReadOnlySpan<char> text, out ulong value)
    {
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            ReadOnlySpan<char> digits = text[2..];
            value = 0;
            return digits.Length > 0 && IsAll(digits, char.IsAsciiHexDigit)
                && ulong.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        }

        value = 0;
        return text.Length > 0 && IsAll(text, char.IsAsciiDigit)
            && ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>
    /// Parses OPS: letters from <c>RWXSHCV</c>, <c>ALL</c> (the reference's MEMOPS_ALL, RWXS plus H), <c>NONE</c>, or a number
    /// below 0x100; several of these may be joined by <c>|</c> (e.g. <c>ALL|C</c>).
    /// </summary>
    public static bool TryParseOperations(ReadOnlySpan<char> text, out MemoryOperations operations)
    {
        operations = MemoryOperations.None;
        if (text.IsEmpty)
        {
            return false;
        }

        foreach (Range part in text.Split('|'))
        {
            ReadOnlySpan<char> p = text[part];
            if (p.Equals("ALL", StringComparison.OrdinalIgnoreCase))
            {
                operations |= MemoryOperations.All;
            }
            else if (p.Equals("NONE", StringComparison.OrdinalIgnoreCase))
            {
                // Adds nothing.
            }
            else if (p.Length > 0 && char.IsAsciiDigit(p[0]))
            {
                if (!TryParseNumber(p, out ulong n) || n > byte.MaxValue)
                {
                    return false;
                }

                operations |= (MemoryOperations)(byte)n;
            }
            else
            {
                if (p.IsEmpty)
                {
                    return false;
                }

                foreach (char c in p)
                {
                    int bit = OpsLetters.IndexOf(char.ToUpperInvariant(c), StringComparison.Ordinal);
                    if (bit < 0)
                    {
                        return false;
                    }

                    operations |= (MemoryOperations)(1 << bit);
                }
            }
        }

        return true;
    }

    /// <summary>Parses PERMS: names from <c>SPAWN|SEND|DUPLICATE|ALIAS|CARVE</c> joined by <c>|</c>, or <c>ALL</c>, <c>NONE</c>, or a number.</summary>
    public static bool TryParsePermissions(ReadOnlySpan<char> text, out ulong permissions)
    {
        permissions = 0;
        if (text.IsEmpty)
        {
            return false;
        }

        foreach (Range part in text.Split('|'))
        {
            ReadOnlySpan<char> p = text[part];
            if (p.Equals("ALL", StringComparison.OrdinalIgnoreCase))
            {
                permissions |= (ulong)DomainPermissions.All;
                continue;
            }

            if (p.Equals("NONE", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (p.Length > 0 && char.IsAsciiDigit(p[0]))
            {
                if (!TryParseNumber(p, out ulong n))
                {
                    return false;
                }

                permissions |= n;
                continue;
            }

            int bit = -1;
            for (int i = 0; i < s_permissionNames.Length && bit < 0; i++)
            {
                if (p.Equals(s_permissionNames[i], StringComparison.OrdinalIgnoreCase))
                {
                    bit = i;
                }
            }

            if (bit < 0)
            {
                return false;
            }

            permissions |= 1UL << bit;
        }

        return true;
    }

    /// <summary>Parses BITMAP: <c>PERMISSION</c>, <c>TRAP</c>, <c>CORE</c>, or a raw index (passed to the engine unchecked, so that <c>InvalidValue</c> can be observed).</summary>
    public static bool TryParseBitmap(ReadOnlySpan<char> text, out ConfigurationBitmap bitmap)
    {
        if (text.Equals("PERMISSION", StringComparison.OrdinalIgnoreCase))
        {
            bitmap = ConfigurationBitmap.Permission;
            return true;
        }

        if (text.Equals("TRAP", StringComparison.OrdinalIgnoreCase))
        {
            bitmap = ConfigurationBitmap.Trap;
            return true;
        }

        if (text.Equals("CORE", StringComparison.OrdinalIgnoreCase))
        {
            bitmap = ConfigurationBitmap.Core;
            return true;
        }

        bitmap = default;
        if (TryParseNumber(text, out ulong n) && n <= int.MaxValue)
        {
            bitmap = (ConfigurationBitmap)(int)n;
            return true;
        }

        return false;
    }

    /// <summary>Parses a bitmap VALUE: a number, <c>ALL</c> (every bit; all permissions for PERMISSION), or for PERMISSION any PERMS.</summary>
    public static bool TryParseBitmapValue(ReadOnlySpan<char> text, ConfigurationBitmap bitmap, out ulong value)
    {
        if (bitmap == ConfigurationBitmap.Permission)
        {
            return TryParsePermissions(text, out value);
        }

        if (text.Equals("ALL", StringComparison.OrdinalIgnoreCase))
        {
            value = ulong.MaxValue;
            return true;
        }

        if (text.Equals("NONE", StringComparison.OrdinalIgnoreCase))
        {
            value = 0;
            return true;
        }

        return TryParseNumber(text, out value);
    }

    /// <summary>Parses POLICY: <c>ZERO</c>, <c>FLUSH</c>, <c>BOTH</c> (= <c>ZERO|FLUSH</c>) or <c>NONE</c>, joined by <c>|</c>.</summary>
    public static bool TryParsePolicy(ReadOnlySpan<char> text, out CleanupPolicy policy)
    {
        policy = CleanupPolicy.None;
        if (text.IsEmpty)
        {
            return false;
        }

        foreach (Range part in text.Split('|'))
        {
            ReadOnlySpan<char> p = text[part];
            if (p.Equals("ZERO", StringComparison.OrdinalIgnoreCase))
            {
                policy |= CleanupPolicy.Zero;
            }
            else if (p.Equals("FLUSH", StringComparison.OrdinalIgnoreCase))
            {
                policy |= CleanupPolicy.Flush;
            }
            else if (p.Equals("BOTH", StringComparison.OrdinalIgnoreCase))
            {
                policy |= CleanupPolicy.ZeroAndFlush;
            }
            else if (!p.Equals("NONE", StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether <paramref name="text"/> is a valid binding name: a letter or <c>_</c>, then letters, digits or <c>_</c>.</summary>
    public static bool IsName(ReadOnlySpan<char> text) =>
        text.Length > 0 && (char.IsAsciiLetter(text[0]) || text[0] == '_')
        && IsAll(text, c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary>The OPS letters of every flag set, in <c>RWXSHCV</c> order, or <c>NONE</c>.</summary>
    public static string FormatOperations(MemoryOperations operations)
    {
        if (operations == MemoryOperations.None)
        {
            return "NONE";
        }

        StringBuilder text = new(8);
        for (int bit = 0; bit < 8; bit++)
        {
            if (((int)operations & (1 << bit)) != 0)
            {
                if (bit < OpsLetters.Length)
                {
                    text.Append(OpsLetters[bit]);
                }
                else
                {
                    text.Append(CultureInfo.InvariantCulture, $"|0x{1 << bit:x}");
                }
            }
        }

        return text.ToString();
    }

    /// <summary>The POLICY display: <c>NONE</c>, <c>ZERO</c>, <c>FLUSH</c> or <c>BOTH</c>.</summary>
    public static string FormatPolicy(CleanupPolicy policy) => policy switch
    {
        CleanupPolicy.None => "NONE",
        CleanupPolicy.Zero => "ZERO",
        CleanupPolicy.Flush => "FLUSH",
        CleanupPolicy.ZeroAndFlush => "BOTH",
        _ => Hex((ulong)policy),
    };

    /// <summary>Lower-case hex with a <c>0x</c> prefix, as in every reference display.</summary>
    public static string Hex(ulong value) => string.Create(CultureInfo.InvariantCulture, $"0x{value:x}");

    /// <summary>Decimal, invariant.</summary>
    public static string Dec(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The reference's set display: <c>{a, b, c}</c> (or another separator, e.g. <c> -&gt; </c> for trackers).</summary>
    public static string Braces(IEnumerable<string> items, string separator = ", ") =>
        string.Concat("{", string.Join(separator, items), "}");

    private static bool IsAll(ReadOnlySpan<char> text, Func<char, bool> predicate)
    {
        foreach (char c in text)
        {
            if (!predicate(c))
            {
                return false;
            }
        }

        return true;
    }
}
