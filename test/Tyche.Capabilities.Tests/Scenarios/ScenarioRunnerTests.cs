// SPDX-License-Identifier: Apache-2.0
using System;
using System.IO;
using System.Linq;
using CsCheck;
using Tyche.Capabilities.Scenarios;

namespace Tyche.Capabilities.Tests.Scenarios;

/// <summary>The interpreter's own behaviour: tokens, comments, bindings, usage results, output shape, robustness.</summary>
public sealed class ScenarioRunnerTests
{
    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("# a comment")]
    [InlineData("   # indented comment => ok 3")]
    public void Blank_and_comment_lines_print_nothing(string line)
    {
        Assert.Null(new ScenarioRunner().Execute(line));
    }

    [Fact]
    public void Tokens_are_joined_by_one_space_and_comments_and_expectations_are_dropped()
    {
        ScenarioRunner runner = new();

        ScenarioLine? line = runner.Execute("  nonsense\t 1   2  # trailing comment");
        ScenarioLine? replayed = runner.Execute("nonsense 1 2 => usage whatever the wording");

        Assert.NotNull(line);
        Assert.Equal("nonsense 1 2", line.Command);
        Assert.Equal(ScenarioResultKind.Usage, line.Kind);
        Assert.Equal("nonsense 1 2 => usage unknown command 'nonsense'", line.ToString());
        Assert.NotNull(replayed);
        Assert.Equal(line.ToString(), replayed.ToString());
    }

    [Theory]
    [InlineData("create_domain", "create_domain DOM")]
    [InlineData("create_domain d0 d1", "create_domain DOM")]
    [InlineData("alias d0 0 0 1", "alias DOM CAPA START END OPS [POLICY]")]
    [InlineData("updates now", "updates")]
    public void A_wrong_argument_count_gives_the_command_syntax(string command, string syntax)
    {
        ScenarioLine? line = new ScenarioRunner().Execute(command);

        Assert.NotNull(line);
        Assert.Equal(ScenarioResultKind.Usage, line.Kind);
        Assert.Equal(syntax, line.Value);
    }

    [Theory]
    [InlineData("alias d9 0 0 0 R", "unknown domain name 'd9'")]
    [InlineData("create_manager_domain EVERYTHING", "bad PERMS")]
    [InlineData("x = revoke_domain d0", "gives no value to bind")]
    [InlineData("9x = reset", "is not a valid name")]
    [InlineData("a b = create_domain d0", "gives one value")]
    [InlineData("x =", "missing command")]
    [InlineData("start_domain_on_core d0 -1", "unknown domain name 'd0'")]
    public void Malformed_lines_are_usage_results(string command, string messagePart)
    {
        ScenarioLine? line = new ScenarioRunner().Execute(command);

        Assert.NotNull(line);
        Assert.Equal(ScenarioResultKind.Usage, line.Kind);
        Assert.Contains(messagePart, line.Value, StringComparison.Ordinal);
        Assert.StartsWith(string.Join(' ', command.Split(' ', StringSplitOptions.RemoveEmptyEntries)) + " => usage ", line.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_line_does_not_reach_the_engine()
    {
        ScenarioRunner runner = new();
        FreeCapacity before = runner.Engine.GetFreeCapacity();

        runner.RunScript("create_manager_domain ALL extra\ncreate_manager_domain RWZ\n");

        Assert.Equal(before, runner.Engine.GetFreeCapacity());
        Assert.Equal(0, runner.Engine.PendingUpdateCount);
    }

    [Fact]
    public void Names_of_the_wrong_kind_are_usage_results()
    {
        ScenarioRunner runner = new();
        runner.Execute("d0 = create_manager_domain ALL");
        runner.Execute("x = create_root_region d0 0 0x1000 RW");

        ScenarioLine? domainAsCapability = runner.Execute("revoke d0 d0");
        ScenarioLine? capabilityAsDomain = runner.Execute("create_domain x");

        Assert.NotNull(domainAsCapability);
        Assert.Equal("revoke d0 d0 => usage 'd0' is a domain, not a capability", domainAsCapability.ToString());
        Assert.NotNull(capabilityAsDomain);
        Assert.Equal("create_domain x => usage 'x' is a capability, not a domain", capabilityAsDomain.ToString());
        Assert.Equal(1, runner.Engine.DomainCount);
    }

    [Fact]
    public void A_failing_command_unbinds_its_name()
    {
        ScenarioRunner runner = new();
        runner.Execute("d0 = create_manager_domain ALL");
        runner.Execute("r = create_root_region d0 0 0x1000 RWXS");
        Assert.Contains("r", runner.BoundNames);

        ScenarioLine? failed = runner.Execute("r = carve d0 0 0x2000 0x3000 R");
        ScenarioLine? later = runner.Execute("revoke d0 r");

        Assert.NotNull(failed);
        Assert.Equal(ScenarioResultKind.Error, failed.Kind);
        Assert.Equal("InvalidOperation", failed.Value);
        Assert.DoesNotContain("r", runner.BoundNames);
        Assert.NotNull(later);
        Assert.Equal(ScenarioResultKind.Usage, later.Kind);
    }

    [Fact]
    public void Reset_forgets_every_name_and_replaces_the_engine()
    {
        ScenarioRunner runner = new();
        CapabilityEngine first = runner.Engine;
        runner.Execute("d0 = create_manager_domain ALL");

        ScenarioLine? reset = runner.Execute("reset");

        Assert.NotNull(reset);
        Assert.Equal("reset => ok", reset.ToString());
        Assert.NotSame(first, runner.Engine);
        Assert.Empty(runner.BoundNames);
    }

    [Fact]
    public void Transaction_commands_refuse_misuse_as_usage()
    {
        ScenarioRunner runner = new();

        Assert.Equal("commit => usage no transaction is open (begin one first)", runner.Execute("commit")!.ToString());
        Assert.Equal("rollback", runner.Execute("rollback")!.Command);
        Assert.Equal("begin => ok", runner.Execute("begin")!.ToString());
        Assert.Equal(ScenarioResultKind.Usage, runner.Execute("begin")!.Kind);
        Assert.Equal("rollback => ok", runner.Execute("rollback")!.ToString());
        Assert.False(runner.Engine.InTransaction);
    }

    [Fact]
    public void Run_writes_exactly_one_line_per_command()
    {
        const string script = "# header\n\nnonsense\nd0 = create_manager_domain ALL\n   \nupdates # drain\nalias\n";
        ScenarioRunner runner = new();
        using StringWriter output = new();

        int commands = runner.Run(new StringReader(script), output);

        string[] lines = output.ToString().Split('\n');
        Assert.Equal(4, commands);
        Assert.Equal(5, lines.Length);
        Assert.Equal(string.Empty, lines[^1]);
        Assert.StartsWith("nonsense => usage", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("d0 = create_manager_domain ALL => ", lines[1], StringComparison.Ordinal);
        Assert.StartsWith("updates => ok {", lines[2], StringComparison.Ordinal);
        Assert.StartsWith("alias => usage", lines[3], StringComparison.Ordinal);
    }

    [Fact]
    public void A_transcript_replays_to_itself()
    {
        ScenarioRunner first = new();
        string transcript = first.RunScript(File.ReadAllText(ScenarioFiles.PathOf("51_language_example.scenario")));

        string replayed = new ScenarioRunner().RunScript(transcript);

        Assert.Equal(transcript, replayed);
        Assert.Equal(13, transcript.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void Random_lines_never_throw_and_always_give_one_result()
    {
        string[] vocabulary =
        [
            .. ScenarioRunner.CommandSyntaxes.Select(s => s.Split(' ')[0]),
            "d0", "d1", "m1", "r0", "x", "=", "=>", "#", "0", "1", "2", "0x1000", "0x0", "0xffffffffffffffff", "99999999999999999999",
            "ALL", "NONE", "RW", "RWXSHCV", "R|C", "Q", "SPAWN|SEND", "PERMISSION", "TRAP", "CORE", "7", "ZERO", "BOTH",
            "00:02.0", "0000:01:1f.7", "1:2", "-1", "",
        ];
        Gen<string> lines = Gen.OneOf(vocabulary).Array[0, 8].Select(tokens => string.Join(' ', tokens));
        Gen<string[]> scripts = lines.Array[1, 40];

        scripts.Sample(script =>
        {
            ScenarioRunner runner = new();
            runner.Execute("d0 = create_manager_domain ALL");
            runner.Execute("start_domain_on_core d0 0");
            runner.Execute("r0 = create_root_region d0 0 0x10000 ALL");
            runner.Execute("m1 = create_domain d0");
            runner.Execute("d1 = get_domain_capa d0 m1");
            InvariantViolation[] violations = new InvariantViolation[4];
            foreach (string line in script)
            {
                ScenarioLine? result = runner.Execute(line);
                int total = runner.Engine.CheckInvariants(violations);
                Assert.True(total == 0, $"after '{line}': {total} invariant violation(s), first {violations[0]}");
                string code = line.Split('#')[0].Trim();
                bool hasTokens = code.Split(' ', StringSplitOptions.RemoveEmptyEntries).TakeWhile(t => t != "=>").Any();
                Assert.Equal(hasTokens, result is not null);
                if (result is not null)
                {
                    Assert.DoesNotContain('\n', result.ToString());
                    Assert.DoesNotContain("InternalError", result.Value, StringComparison.Ordinal);
                    Assert.Contains(" => ", result.ToString(), StringComparison.Ordinal);
                }
            }
        }, iter: 300);
    }

    [Fact]
    public void Random_well_formed_scripts_keep_every_invariant()
    {
        // Commands drawn from the language's own syntax table, with plausible arguments, so that most lines reach the
        // engine; after every line the invariant checker must be silent and no line may be an internal error.
        string[] syntaxes = [.. ScenarioRunner.CommandSyntaxes.Where(s => !s.StartsWith("reset", StringComparison.Ordinal))];
        string[] domainResults = ["create_manager_domain", "get_domain_capa", "device_owner", "manager", "running"];
        string[] capabilityResults =
        [
            "create_domain", "create_io_domain", "create_root_region", "alias", "carve", "create_revoke_capa", "duplicate", "send",
            "send_with_hash", "share", "grant", "seal", "create_switch", "create_root_device",
        ];
        Gen<string> line =
            from syntax in Gen.OneOf(syntaxes)
            from bind in Gen.Int[0, 5]
            from values in Gen.Int[0, 1000].Array[8]
            let name = syntax.Split(' ')[0]
            let prefix = bind > 2 ? string.Empty
                : domainResults.Contains(name) ? Pick(bind, "d1 = ", "d2 = ", "d2 = ")
                : capabilityResults.Contains(name) ? Pick(bind, "x = ", "m = ", "x = ")
                : string.Empty
            select prefix + Fill(syntax, values);
        int[] kinds = new int[3];
        line.Array[1, 60].Sample(script =>
        {
            ScenarioRunner runner = new();
            runner.RunScript("d0 = create_manager_domain ALL\nstart_domain_on_core d0 0\nr0 = create_root_region d0 0 0x10000 ALL\n"
                + "m = create_domain d0\nd1 = get_domain_capa d0 m\n");
            InvariantViolation[] violations = new InvariantViolation[4];
            foreach (string command in script)
            {
                ScenarioLine result = runner.Execute(command) ?? throw new InvalidOperationException(command);
                System.Threading.Interlocked.Increment(ref kinds[(int)result.Kind]);
                Assert.DoesNotContain("InternalError", result.Value, StringComparison.Ordinal);
                int total = runner.Engine.CheckInvariants(violations);
                Assert.True(total == 0, $"after '{result}': {total} invariant violation(s), first {violations[0]}");
            }
        }, iter: 200);

        // The generator must mostly reach the engine, and the engine must accept a fair share.
        int total = kinds.Sum();
        Assert.True(kinds[(int)ScenarioResultKind.Usage] * 3 < total, $"ok {kinds[0]}, err {kinds[1]}, usage {kinds[2]}");
        Assert.True(kinds[(int)ScenarioResultKind.Ok] * 4 > total, $"ok {kinds[0]}, err {kinds[1]}, usage {kinds[2]}");
    }

    private static string Fill(string syntax, int[] values)
    {
        string[] words = syntax.Replace("[", string.Empty, StringComparison.Ordinal).Replace("]", string.Empty, StringComparison.Ordinal).Split(' ');
        string[] parts = new string[words.Length];
        parts[0] = words[0];
        for (int i = 1; i < words.Length; i++)
        {
            int v = values[(i - 1) % values.Length] + i;
            parts[i] = words[i] switch
            {
                "DOM" => Pick(v, "d0", "d0", "d1", "d2"),
                "CAPA" or "TO" => Pick(v, "0", "1", "2", "3", "4", "r0", "m", "x"),
                "START" => Pick(v, "0x0", "0x1000", "0x2000", "0x4000"),
                "END" => Pick(v, "0x1000", "0x2000", "0x3000", "0x8000", "0x10000"),
                "ADDR" => Pick(v, "0x0", "0x1800", "0x9000"),
                "OPS" => Pick(v, "R", "RW", "RWXS", "ALL", "RWC", "RWXSHV", "NONE"),
                "PERMS" => Pick(v, "ALL", "NONE", "SPAWN|SEND", "ALIAS|CARVE"),
                "BITMAP" => Pick(v, "PERMISSION", "TRAP", "CORE"),
                "VALUE" => Pick(v, "0", "1", "3", "ALL"),
                "CORE" => Pick(v, "0", "1", "2"),
                "BYTE" => Pick(v, "0", "0xab"),
                "TRAP" or "INFO" => Pick(v, "1", "2", "0x10"),
                "POLICY" => Pick(v, "ZERO", "FLUSH", "BOTH"),
                "DEVICE" => Pick(v, "00:02.0", "00:03.1"),
                _ => "0",
            };
        }

        // Drop the optional trailing argument half of the time.
        int count = syntax.Contains('[', StringComparison.Ordinal) && values[7] % 2 == 0 ? words.Length - 1 : words.Length;
        return string.Join(' ', parts, 0, count);
    }

    private static string Pick(int value, params string[] choices) => choices[value % choices.Length];

    [Fact]
    public void Every_command_is_documented_in_the_language_reference()
    {
        string docs = File.ReadAllText(Path.Combine(ScenarioFiles.Directory, "..", "..", "..", "docs", "scenario-language.md"));

        foreach (string syntax in ScenarioRunner.CommandSyntaxes)
        {
            Assert.Contains("`" + syntax + "`", docs, StringComparison.Ordinal);
        }
    }
}
