// SPDX-License-Identifier: Apache-2.0
using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tyche.Integration.Tests.Infrastructure;
using Tyche.Integration.Tests.Samples;

namespace Tyche.Integration.Tests.Cli;

/// <summary><c>tyche verify</c> over the evidence samples/ConfidentialSaas writes (software root of trust: fast, no swtpm needed).</summary>
public sealed class VerifyCommandTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("tyche-verify-");

    public VerifyCommandTests()
    {
        ProcessResult run = ConfidentialSaasTests.RunSample("--software-root-of-trust", "--write-evidence", _directory.FullName);
        Assert.True(run.ExitCode == 0, run.Describe());
    }

    private string Evidence => Path.Combine(_directory.FullName, "evidence.json");

    private string Policy => Path.Combine(_directory.FullName, "policy.json");

    private string Trust => Path.Combine(_directory.FullName, "trust.json");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void Genuine_evidence_is_trusted_with_one_row_per_check()
    {
        (int exit, string text, string error) = CliHarness.Run("verify", Evidence, Policy, Trust);
        Assert.True(exit == 0, error + text);
        string[] rows = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("status  check", rows[0], StringComparison.Ordinal);
        Assert.Equal("verdict: TRUSTED", rows[^1]);
        string[] checks = rows[1..^1];
        Assert.All(checks, r => Assert.StartsWith("PASS", r, StringComparison.Ordinal));
        Assert.Contains(checks, r => r.Contains("TpmSignature", StringComparison.Ordinal));
        Assert.Contains(checks, r => r.Contains("Measurement", StringComparison.Ordinal) && r.Contains("crypto (id 4)", StringComparison.Ordinal));
        Assert.True(checks.Count(r => r.Contains("PolicyClause", StringComparison.Ordinal)) >= 6);
    }

    [Fact]
    public void A_policy_the_evidence_breaks_is_rejected_with_the_failing_clause_and_exit_code_1()
    {
        // Claim the GPU buffer may only be shared with the crypto engine (id 4): the report says the GPU (id 3) holds it.
        JsonNode policy = JsonNode.Parse(File.ReadAllText(Policy))!;
        policy["domains"]![0]!["allowedSharing"]![0]!["partners"] = new JsonArray(4);
        string broken = Path.Combine(_directory.FullName, "broken-policy.json");
        File.WriteAllText(broken, policy.ToJsonString());
        (int exit, string text, _) = CliHarness.Run("verify", Evidence, broken, Trust, "--json");
        Assert.Equal(1, exit);
        using JsonDocument json = JsonDocument.Parse(text);
        Assert.False(json.RootElement.GetProperty("trusted").GetBoolean());
        JsonElement failed = Assert.Single(json.RootElement.GetProperty("checks").EnumerateArray().ToArray(), c => c.GetProperty("status").GetString() == "Failed");
        Assert.Equal("PolicyClause", failed.GetProperty("check").GetString());
        Assert.Equal("saas (id 2)", failed.GetProperty("subject").GetString());
        Assert.Contains("outside the allowed partners", failed.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_different_nonce_or_a_tampered_report_is_rejected()
    {
        (int exit, string text, _) = CliHarness.Run("verify", Evidence, Policy, Trust, "--nonce", "00112233445566778899aabbccddeeff");
        Assert.Equal(1, exit);
        Assert.Contains(text.Split('\n'), r => r.StartsWith("FAIL", StringComparison.Ordinal) && r.Contains("Nonce", StringComparison.Ordinal));

        JsonNode evidence = JsonNode.Parse(File.ReadAllText(Evidence))!;
        byte[] report = Convert.FromBase64String(evidence["signedReport"]!.GetValue<string>());
        report[report.Length / 2] ^= 0x01;
        evidence["signedReport"] = Convert.ToBase64String(report);
        string tampered = Path.Combine(_directory.FullName, "tampered.json");
        File.WriteAllText(tampered, evidence.ToJsonString());
        (exit, text, _) = CliHarness.Run("verify", tampered, Policy, Trust);
        Assert.Equal(1, exit);
        Assert.Contains(text.Split('\n'), r => r.StartsWith("FAIL", StringComparison.Ordinal));
        Assert.EndsWith("verdict: REJECTED\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Malformed_or_missing_inputs_get_their_exit_codes_and_a_message()
    {
        string garbage = Path.Combine(_directory.FullName, "garbage.json");
        File.WriteAllText(garbage, "{ \"version\": 1, \"nonce\": \"zz\" }");
        (int exit, _, string error) = CliHarness.Run("verify", garbage, Policy, Trust);
        Assert.Equal(65, exit);
        Assert.Contains("malformed evidence", error, StringComparison.Ordinal);
        (exit, _, error) = CliHarness.Run("verify", Evidence, Trust, Trust);
        Assert.Equal(65, exit);
        Assert.Contains("unknown property", error, StringComparison.Ordinal);
        Assert.Equal(66, CliHarness.Run("verify", "/nonexistent/evidence.json", Policy, Trust).Exit);
        Assert.Equal(64, CliHarness.Run("verify", Evidence).Exit);
    }

    [Fact]
    public void The_tool_lists_every_command()
    {
        (int exit, string text, _) = CliHarness.Run("--help");
        Assert.Equal(0, exit);
        foreach (string command in new[] { "run", "verify", "render", "ept", "pmp" })
        {
            Assert.Contains($"  {command} ", text, StringComparison.Ordinal);
        }
    }
}
