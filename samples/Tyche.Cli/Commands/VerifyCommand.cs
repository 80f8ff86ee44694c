// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using System.Text.Json;
using Tyche.Attestation.Verification;

namespace Tyche.Cli;

/// <summary><c>tyche verify EVIDENCE POLICY TRUST</c>: runs the relying party's verifier and prints every check.</summary>
internal sealed class VerifyCommand : ICliCommand
{
    private static readonly string[] s_valued = ["--nonce"];
    private static readonly string[] s_flags = ["--json"];

    /// <inheritdoc />
    public string Name => "verify";

    /// <inheritdoc />
    public string Summary => "Verify attestation evidence against a JSON policy: one row per check, exit code 0 only when trusted.";

    /// <inheritdoc />
    public string Help =>
        "Usage: tyche verify EVIDENCE.json POLICY.json TRUST.json [--nonce HEX] [--json]\n\n"
        + "Runs the verifier over the whole chain (TPM quote, event log, monitor digest, key binding, CMS signature,\n"
        + "report, measurements, each policy clause) and prints one row per check with its status and reason.\n"
        + "  EVIDENCE.json  the quote, PCR values, event log and signed report, plus the nonce the verifier issued\n"
        + "  POLICY.json    the JSON policy (docs/integration.md; Tyche.Attestation's policy format)\n"
        + "  TRUST.json     the attestation key the verifier enrolled (TPMT_PUBLIC and qualified name)\n"
        + "  --nonce HEX    the nonce the verifier issued, when it is not the one recorded in EVIDENCE.json\n"
        + "samples/ConfidentialSaas writes all three with --write-evidence DIR.\n\n"
        + "Exit codes: 0 trusted, 1 rejected (a check failed or was not evaluated), 64 bad command line,\n"
        + "65 an input is malformed, 66 an input cannot be read.\n";

    /// <inheritdoc />
    public int Execute(IReadOnlyList<string> args, CliConsole console)
    {
        if (!ParsedArguments.TryParse(args, s_valued, s_flags, out ParsedArguments parsed, out string error) || parsed.Positional.Count != 3)
        {
            console.Error.WriteLine($"tyche verify: {(error.Length > 0 ? error : "expected EVIDENCE.json POLICY.json TRUST.json.")}");
            return ExitCodes.Usage;
        }

        if (!TryRead(parsed.Positional[0], console, out string evidenceText) || !TryRead(parsed.Positional[1], console, out string policyText)
            || !TryRead(parsed.Positional[2], console, out string trustText))
        {
            return ExitCodes.NoInput;
        }

        if (!EvidenceBundle.TryReadEvidence(evidenceText, out AttestationEvidence? evidence, out byte[] nonce, out error))
        {
            console.Error.WriteLine($"tyche verify: {parsed.Positional[0]}: {error}");
            return MoreExitCodes.DataError;
        }

        if (!AttestationPolicy.TryParse(policyText, out AttestationPolicy? policy, out error))
        {
            console.Error.WriteLine($"tyche verify: {parsed.Positional[1]}: {error}");
            return MoreExitCodes.DataError;
        }

        if (!EvidenceBundle.TryReadTrust(trustText, out VerifierTrustAnchors? trust, out error))
        {
            console.Error.WriteLine($"tyche verify: {parsed.Positional[2]}: {error}");
            return MoreExitCodes.DataError;
        }

        if (parsed.Option("--nonce") is { } nonceText)
        {
            try
            {
                nonce = Convert.FromHexString(nonceText);
            }
            catch (FormatException)
            {
                console.Error.WriteLine("tyche verify: --nonce takes hexadecimal digits.");
                return ExitCodes.Usage;
            }
        }

        VerificationResult result = AttestationVerifier.Verify(evidence!, trust!, nonce, policy!);
        if (parsed.Flag("--json"))
        {
            List<object> checks = [];
            foreach (CheckResult check in result.Checks)
            {
                checks.Add(new { check = check.Check.ToString(), status = check.Status.ToString(), subject = check.Subject, reason = check.Reason });
            }

            console.Out.WriteLine(JsonSerializer.Serialize(new { trusted = result.IsTrusted, checks }, CommandSupport.Json));
        }
        else
        {
            console.Out.Write(Table(result));
        }

        return result.IsTrusted ? ExitCodes.Success : MoreExitCodes.Rejected;
    }

    /// <summary>The per-check table for people.</summary>
    /// <param name="result">The verification result.</param>
    /// <returns>The table and the verdict line.</returns>
    internal static string Table(VerificationResult result)
    {
        int checkWidth = "check".Length;
        int subjectWidth = "subject".Length;
        foreach (CheckResult check in result.Checks)
        {
            checkWidth = Math.Max(checkWidth, check.Check.ToString().Length);
            subjectWidth = Math.Max(subjectWidth, check.Subject.Length);
        }

        StringBuilder text = new();
        text.Append(CultureInfo.InvariantCulture, $"{"status",-6}  {"check".PadRight(checkWidth)}  {"subject".PadRight(subjectWidth)}  reason\n");
        foreach (CheckResult check in result.Checks)
        {
            string status = check.Status switch
            {
                CheckStatus.Passed => "PASS",
                CheckStatus.Warning => "WARN",
                CheckStatus.Failed => "FAIL",
                _ => "SKIP",
            };
            text.Append(CultureInfo.InvariantCulture,
                $"{status,-6}  {check.Check.ToString().PadRight(checkWidth)}  {check.Subject.PadRight(subjectWidth)}  {check.Reason}\n");
        }

        text.Append(result.IsTrusted ? "verdict: TRUSTED\n" : "verdict: REJECTED\n");
        return text.ToString();
    }

    private static bool TryRead(string path, CliConsole console, out string text)
    {
        try
        {
            text = File.ReadAllText(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            console.Error.WriteLine($"tyche verify: cannot read '{path}': {e.Message}");
            text = string.Empty;
            return false;
        }
    }
}
