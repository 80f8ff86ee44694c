// SPDX-License-Identifier: Apache-2.0
using Tyche.Capabilities.Scenarios;

namespace Tyche.Capabilities.Tests.Scenarios;

/// <summary>The argument syntax of the scenario language.</summary>
public sealed class ScenarioSyntaxTests
{
    [Theory]
    [InlineData("0", 0UL)]
    [InlineData("4096", 4096UL)]
    [InlineData("0x1000", 0x1000UL)]
    [InlineData("0XFF", 0xFFUL)]
    [InlineData("0xffffffffffffffff", ulong.MaxValue)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    public void Numbers_are_decimal_or_hex(string text, ulong expected)
    {
        Assert.True(ScenarioSyntax.TryParseNumber(text, out ulong value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0x")]
    [InlineData("-1")]
    [InlineData("+1")]
    [InlineData("1e3")]
    [InlineData("0x1g")]
    [InlineData("18446744073709551616")]
    [InlineData("0x10000000000000000")]
    [InlineData(" 1")]
    public void Malformed_numbers_are_refused(string text)
    {
        Assert.False(ScenarioSyntax.TryParseNumber(text, out _));
    }

    [Theory]
    [InlineData("R", MemoryOperations.Read)]
    [InlineData("RW", MemoryOperations.Read | MemoryOperations.Write)]
    [InlineData("RWXS", MemoryOperations.Rights)]
    [InlineData("ALL", MemoryOperations.All)]
    [InlineData("RWXSH", MemoryOperations.All)]
    [InlineData("RWXSHCV", MemoryOperations.Rights | MemoryOperations.Attributes)]
    [InlineData("NONE", MemoryOperations.None)]
    [InlineData("0", MemoryOperations.None)]
    [InlineData("0x23", MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Cleanup)]
    [InlineData("96", MemoryOperations.Cleanup | MemoryOperations.Vital)]
    [InlineData("ALL|C", MemoryOperations.All | MemoryOperations.Cleanup)]
    [InlineData("rw", MemoryOperations.Read | MemoryOperations.Write)]
    public void Ops_are_letters_keywords_or_numbers(string text, MemoryOperations expected)
    {
        Assert.True(ScenarioSyntax.TryParseOperations(text, out MemoryOperations ops));
        Assert.Equal(expected, ops);
        Assert.Equal(0x1F, (int)MemoryOperations.All);
    }

    [Theory]
    [InlineData("")]
    [InlineData("RQ")]
    [InlineData("0x100")]
    [InlineData("R||W")]
    [InlineData("|")]
    public void Malformed_ops_are_refused(string text)
    {
        Assert.False(ScenarioSyntax.TryParseOperations(text, out _));
    }

    [Theory]
    [InlineData("ALL", 0x1FUL)]
    [InlineData("NONE", 0UL)]
    [InlineData("SPAWN", 1UL)]
    [InlineData("SEND|CARVE", 0x12UL)]
    [InlineData("ALIAS|CARVE|SEND|SPAWN", 0x1BUL)]
    [InlineData("DUPLICATE", 4UL)]
    [InlineData("0x20", 0x20UL)]
    public void Perms_are_names_joined_by_bars(string text, ulong expected)
    {
        Assert.True(ScenarioSyntax.TryParsePermissions(text, out ulong perms));
        Assert.Equal(expected, perms);
    }

    [Theory]
    [InlineData("SPAWNS")]
    [InlineData("SPAWN|")]
    [InlineData("")]
    public void Malformed_perms_are_refused(string text)
    {
        Assert.False(ScenarioSyntax.TryParsePermissions(text, out _));
    }

    [Theory]
    [InlineData("PERMISSION", "ALL", ConfigurationBitmap.Permission, 0x1FUL)]
    [InlineData("PERMISSION", "SPAWN|SEND", ConfigurationBitmap.Permission, 3UL)]
    [InlineData("TRAP", "ALL", ConfigurationBitmap.Trap, ulong.MaxValue)]
    [InlineData("CORE", "0x3", ConfigurationBitmap.Core, 3UL)]
    [InlineData("3", "0", (ConfigurationBitmap)3, 0UL)]
    public void Bitmaps_and_values(string bitmapText, string valueText, ConfigurationBitmap bitmap, ulong value)
    {
        Assert.True(ScenarioSyntax.TryParseBitmap(bitmapText, out ConfigurationBitmap parsed));
        Assert.Equal(bitmap, parsed);
        Assert.True(ScenarioSyntax.TryParseBitmapValue(valueText, parsed, out ulong v));
        Assert.Equal(value, v);
    }

    [Theory]
    [InlineData("ZERO", CleanupPolicy.Zero)]
    [InlineData("FLUSH", CleanupPolicy.Flush)]
    [InlineData("BOTH", CleanupPolicy.ZeroAndFlush)]
    [InlineData("ZERO|FLUSH", CleanupPolicy.ZeroAndFlush)]
    [InlineData("NONE", CleanupPolicy.None)]
    public void Policies(string text, CleanupPolicy expected)
    {
        Assert.True(ScenarioSyntax.TryParsePolicy(text, out CleanupPolicy policy));
        Assert.Equal(expected, policy);
        Assert.False(ScenarioSyntax.TryParsePolicy("SHRED", out _));
    }

    [Theory]
    [InlineData(MemoryOperations.None, "NONE")]
    [InlineData(MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Cleanup, "RWC")]
    [InlineData(MemoryOperations.All, "RWXSH")]
    public void Ops_format_round_trips(MemoryOperations ops, string text)
    {
        Assert.Equal(text, ScenarioSyntax.FormatOperations(ops));
        Assert.True(ScenarioSyntax.TryParseOperations(text, out MemoryOperations parsed));
        Assert.Equal(ops, parsed);
    }

    [Theory]
    [InlineData("d0", true)]
    [InlineData("_x1", true)]
    [InlineData("e_e_r1", true)]
    [InlineData("1d", false)]
    [InlineData("a-b", false)]
    [InlineData("", false)]
    public void Names(string text, bool valid)
    {
        Assert.Equal(valid, ScenarioSyntax.IsName(text));
    }
}
