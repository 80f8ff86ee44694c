// SPDX-License-Identifier: Apache-2.0
using System;
using System.Linq;
using System.Text.Json;

namespace Tyche.Integration.Tests.Cli;

/// <summary><c>tyche ept</c> and <c>tyche pmp</c>: a domain's hardware configuration after a scenario, for people and as JSON.</summary>
public sealed class HardwareDumpCommandTests
{
    [Fact]
    public void Ept_of_the_manager_is_one_1GiB_identity_leaf_with_RWX_write_back()
    {
        (int exit, string text, string error) = CliHarness.RunWithInput(CliHarness.Scenario, "ept", "-", "os", "--json");
        Assert.True(exit == 0, error);
        using JsonDocument json = JsonDocument.Parse(text);
        JsonElement root = json.RootElement;
        Assert.Equal("os", root.GetProperty("domain").GetString());
        // EPTP: WB (6) and a 4-level walk (3 << 3) in the low bits (SDM Vol. 3C §25.6.11).
        ulong eptp = Convert.ToUInt64(root.GetProperty("eptp").GetString(), 16);
        Assert.Equal(0x1EUL, eptp & 0xFFF);
        // The OS keeps [0x0, 0x200000) and [0x800000, 0x40000000) exclusively and shares [0x200000, 0x400000) with the gpu:
        // every byte of [0, 1 GiB) except the carve [0x400000, 0x800000) given to saas, identity-mapped.
        JsonElement[] runs = root.GetProperty("ept").EnumerateArray().ToArray();
        Assert.All(runs, r => Assert.Equal(r.GetProperty("gpa").GetString(), r.GetProperty("hpa").GetString()));
        Assert.All(runs, r => Assert.Equal(6, r.GetProperty("memoryType").GetInt32()));
        ulong covered = runs.Aggregate(0UL, (sum, r) => sum + (ulong)r.GetProperty("pages").GetInt32() * r.GetProperty("pageSize").GetUInt64());
        Assert.Equal(0x4000_0000UL - 0x40_0000UL, covered);
        Assert.DoesNotContain(runs, r => Convert.ToUInt64(r.GetProperty("gpa").GetString(), 16) is >= 0x40_0000 and < 0x80_0000);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("secondLevel").ValueKind);
    }

    [Fact]
    public void Ept_of_the_gpu_domain_shows_read_write_2MiB_leaves_and_its_vtd_second_level_table()
    {
        (int exit, string text, string error) = CliHarness.RunWithInput(CliHarness.Scenario, "ept", "-", "gpu");
        Assert.True(exit == 0, error);
        string[] lines = text.Split('\n');
        Assert.StartsWith("EPT of gpu (H(2, gen 0)): EPTP 0x", lines[0], StringComparison.Ordinal);
        // [0x200000, 0x400000) is one 2 MiB leaf, read/write, no execute, in both the EPT and the VT-d table.
        Assert.Equal(2, lines.Count(l => l.Contains("[0x0000000000200000, 0x0000000000400000)  0x0000000000200000  1 x 2 MiB   RW-", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("VT-d second-level table of gpu: root 0x", StringComparison.Ordinal) && l.EndsWith("devices 0000:00:02.0", StringComparison.Ordinal));
    }

    [Fact]
    public void Pmp_compiles_the_saas_domain_into_one_napot_entry()
    {
        (int exit, string text, string error) = CliHarness.RunWithInput(CliHarness.Scenario, "pmp", "-", "saas", "--json");
        Assert.True(exit == 0, error);
        using JsonDocument json = JsonDocument.Parse(text);
        JsonElement root = json.RootElement;
        Assert.Equal("Ok", root.GetProperty("status").GetString());
        JsonElement entry = Assert.Single(root.GetProperty("entries").EnumerateArray().ToArray());
        Assert.Equal("NAPOT", entry.GetProperty("mode").GetString());
        Assert.Equal("0x400000", entry.GetProperty("start").GetString());
        Assert.Equal("0x800000", entry.GetProperty("end").GetString());
        Assert.True(entry.GetProperty("read").GetBoolean() && entry.GetProperty("write").GetBoolean() && entry.GetProperty("execute").GetBoolean());
        Assert.False(entry.GetProperty("locked").GetBoolean());
        // RISC-V Privileged ISA §3.7.1: NAPOT pmpaddr = (base >> 2) | (size/8 - 1) = 0x100000 | 0x7ffff.
        Assert.Equal("0x17ffff", entry.GetProperty("pmpaddr").GetString());
        Assert.Equal("0x3b0", entry.GetProperty("addressCsr").GetString());
        // RV64 with 16 entries: pmpcfg0 and pmpcfg2; entry 0 = NAPOT|X|W|R = 0x1f.
        JsonElement[] configs = root.GetProperty("configRegisters").EnumerateArray().ToArray();
        Assert.Equal(["0x3a0", "0x3a2"], configs.Select(c => c.GetProperty("csr").GetString()));
        Assert.Equal("0x1f", configs[0].GetProperty("value").GetString());
    }

    [Fact]
    public void Pmp_refuses_a_domain_that_needs_more_entries_than_the_hart_has_and_says_how_many()
    {
        // The OS's permissions, [0x0, 0x400000) and [0x800000, 0x40000000), need more than one entry.
        (int exit, string text, string error) = CliHarness.RunWithInput(CliHarness.Scenario, "pmp", "-", "os", "--entries", "1");
        Assert.True(exit == 1, error);
        Assert.Contains("REFUSED: TooManyEntries (entries needed ", text, StringComparison.Ordinal);
        Assert.Contains("available 1)", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_domains_and_bad_options_get_their_exit_codes()
    {
        Assert.Equal(65, CliHarness.RunWithInput(CliHarness.Scenario, "pmp", "-", "nobody").Exit);
        Assert.Equal(65, CliHarness.RunWithInput(CliHarness.Scenario, "ept", "-", "nobody").Exit);
        Assert.Equal(64, CliHarness.RunWithInput(CliHarness.Scenario, "pmp", "-", "os", "--xlen", "48").Exit);
        Assert.Equal(64, CliHarness.Run("ept", "only-one-argument").Exit);
        // A handle works as well as a name.
        Assert.Equal(0, CliHarness.RunWithInput(CliHarness.Scenario, "ept", "-", "H(1, gen 0)").Exit);
    }
}
