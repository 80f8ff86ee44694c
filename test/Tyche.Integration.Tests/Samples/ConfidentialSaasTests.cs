// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Tyche.Integration.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Tyche.Integration.Tests.Samples;

/// <summary>
/// Runs samples/ConfidentialSaas (the README's first command) and checks the facts its output states: the root of trust used,
/// the Figure 4 memory map and its reference counts, every verifier check, the replay rejection, zeroing after revocation.
/// </summary>
public sealed partial class ConfidentialSaasTests
{
    private readonly ITestOutputHelper _output;

    public ConfidentialSaasTests(ITestOutputHelper output) => _output = output;

    /// <summary>One row of the printed memory map.</summary>
    private sealed record Segment(ulong Start, ulong End, int References, string Domains);

    internal static ProcessResult RunSample(params string[] arguments)
    {
        string dll = RepositoryPaths.Combine("samples", "ConfidentialSaas", "bin", RepositoryPaths.Configuration, "net10.0", "ConfidentialSaas.dll");
        Assert.True(File.Exists(dll), $"{dll} was not built (the test project references the sample so that it is).");
        return ProcessRunner.Run("dotnet", [dll, .. arguments], timeout: TimeSpan.FromMinutes(2));
    }

    [Fact]
    public void The_sample_runs_the_paper_scenario_end_to_end_through_swtpm()
    {
        bool haveSwtpm = ExternalTool.Require("swtpm", _output);
        ProcessResult run = RunSample();
        _output.WriteLine(run.StandardOutput);
        Assert.True(run.ExitCode == 0, run.Describe());
        string text = run.StandardOutput;
        string[] lines = text.Split('\n', StringSplitOptions.TrimEntries);

        if (haveSwtpm)
        {
            Assert.Contains(lines, l => l.StartsWith("root of trust: TPM 2.0 at 127.0.0.1:", StringComparison.Ordinal) && l.Contains("swtpm started", StringComparison.Ordinal));
            Assert.DoesNotContain("SOFTWARE root of trust", text, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains(lines, l => l.StartsWith("NOTE: no TPM is used", StringComparison.Ordinal));
        }

        CheckScenario(text, lines);
    }

    [Fact]
    public void Without_a_TPM_the_sample_says_plainly_that_the_software_root_of_trust_is_used()
    {
        ProcessResult run = RunSample("--software-root-of-trust");
        Assert.True(run.ExitCode == 0, run.Describe());
        string[] lines = run.StandardOutput.Split('\n', StringSplitOptions.TrimEntries);
        Assert.Contains(lines, l => l.StartsWith("root of trust: SOFTWARE root of trust for tests", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("NOTE: no TPM is used", StringComparison.Ordinal) && l.Contains("for tests only", StringComparison.Ordinal));
        CheckScenario(run.StandardOutput, lines);
    }

    private static void CheckScenario(string text, string[] lines)
    {
        // The lifecycle log of the Monitor facade and of the attestation facade.
        Assert.Equal(4, lines.Count(l => l.StartsWith("log: Tyche domain H(", StringComparison.Ordinal) && l.EndsWith(" created", StringComparison.Ordinal)));
        Assert.Equal(3, lines.Count(l => l.StartsWith("log: Tyche domain H(", StringComparison.Ordinal) && l.EndsWith(" revoked", StringComparison.Ordinal)));
        Assert.Single(lines, l => l.StartsWith("log: Tyche domains H(1, gen 0), H(2, gen 0), H(3, gen 0) attested", StringComparison.Ordinal));

        // Figure 4: a map that tiles RAM, with the exclusivity and sharing facts of the scenario.
        List<Segment> before = Segments(Section(lines, "== 4."));
        Assert.Equal(0UL, before[0].Start);
        Assert.Equal(0xC0_0000UL, before[^1].End);
        for (int i = 1; i < before.Count; i++)
        {
            Assert.Equal(before[i - 1].End, before[i].Start);
        }

        foreach (Segment segment in before)
        {
            Assert.Equal(segment.References, segment.Domains.Split(", ").Length);
        }

        Segment key = At(before, 0x78_1000);
        Assert.Equal(1, key.References);
        Assert.Equal("crypto (RW__)", key.Domains);
        Segment gpuBuffer = At(before, 0x60_0000);
        Assert.Equal(2, gpuBuffer.References);
        Assert.Contains("saas (", gpuBuffer.Domains, StringComparison.Ordinal);
        Assert.Contains("gpu (RW__)", gpuBuffer.Domains, StringComparison.Ordinal);
        Segment cryptoBuffer = At(before, 0x70_0000);
        Assert.Equal(2, cryptoBuffer.References);
        Assert.Contains("crypto (RW__)", cryptoBuffer.Domains, StringComparison.Ordinal);
        // The OS keeps nothing inside the SaaS domain's 4 MiB.
        Assert.All(before.Where(s => s.Start >= 0x40_0000 && s.End <= 0x80_0000), s => Assert.DoesNotContain("os (", s.Domains, StringComparison.Ordinal));
        Assert.Contains(lines, l => l == "invariant checker: 0 violation(s)");

        // Every verifier check is printed, and all of the first verification passed.
        string[] checks = Section(lines, "== 5.").Where(l => l.StartsWith('[')).ToArray();
        Assert.All(checks, c => Assert.StartsWith("[PASS]", c, StringComparison.Ordinal));
        foreach (string check in new[] { "TpmSignature", "Nonce", "SignerName", "PcrDigest", "LogReplay", "MonitorDigest", "KeyBinding", "CmsSignature", "ReportNonce", "MonitorIdentity" })
        {
            Assert.Contains(checks, c => c.StartsWith($"[PASS] {check}:", StringComparison.Ordinal));
        }

        Assert.Contains(checks, c => c.StartsWith("[PASS] Measurement [crypto", StringComparison.Ordinal));
        Assert.Contains(checks, c => c.StartsWith("[PASS] PolicyClause [saas", StringComparison.Ordinal) && c.Contains("exclusive except the allowed shared ranges", StringComparison.Ordinal));
        Assert.Contains(checks, c => c.StartsWith("[PASS] PolicyClause [gpu", StringComparison.Ordinal) && c.Contains("owns device 0000:00:02.0", StringComparison.Ordinal));
        Assert.Contains(lines, l => l == "verdict: TRUSTED");
        Assert.Contains(lines, l => l.StartsWith("the same evidence against a fresh nonce (a replay): REJECTED (Nonce:", StringComparison.Ordinal));

        // Revocation with zeroing, and everything back with the OS.
        Assert.Contains(lines, l => l.StartsWith("crypto engine revoked; cleanups:", StringComparison.Ordinal) && l.Contains("Cleanup([0x781000, 0x782000], Zero)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l == "key page [0x781000, 0x782000) after revocation: all zero");
        Assert.Contains(lines, l => l.StartsWith("SaaS memory [0x400000, 0x800000) after revocation: all zero", StringComparison.Ordinal));
        List<Segment> after = Segments(Section(lines, "memory map after revocation:"));
        Segment all = Assert.Single(after);
        Assert.Equal((0UL, 0xC0_0000UL, 1, "os (RWXS)"), (all.Start, all.End, all.References, all.Domains));
        Assert.DoesNotContain("FAILED", text, StringComparison.Ordinal);
        Assert.Contains(lines, l => l == "== Done: every expectation held.");
    }

    private static string[] Section(string[] lines, string header)
    {
        int start = Array.FindIndex(lines, l => l.StartsWith(header, StringComparison.Ordinal));
        Assert.True(start >= 0, $"No section '{header}'.");
        int end = Array.FindIndex(lines, start + 1, l => l.StartsWith("== ", StringComparison.Ordinal) || l.StartsWith("memory map after", StringComparison.Ordinal));
        return lines[(start + 1)..(end < 0 ? lines.Length : end)];
    }

    private static List<Segment> Segments(string[] lines)
    {
        List<Segment> segments = [];
        foreach (string line in lines)
        {
            Match m = SegmentRow().Match(line);
            if (m.Success)
            {
                segments.Add(new Segment(ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                    ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                    int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture), m.Groups[4].Value.Trim()));
            }
        }

        Assert.NotEmpty(segments);
        return segments;
    }

    private static Segment At(List<Segment> segments, ulong address) => segments.Single(s => s.Start <= address && address < s.End);

    [GeneratedRegex(@"^\[0x([0-9a-f]{16}), 0x([0-9a-f]{16})\)\s+\d+ [KMGT]?i?B\s+(\d+)\s+(.*)$")]
    private static partial Regex SegmentRow();
}
