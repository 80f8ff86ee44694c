// SPDX-License-Identifier: Apache-2.0
using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Tyche.Capabilities.Scenarios;
using Tyche.Cli;

namespace Tyche.Capabilities.Tests.Scenarios;

/// <summary>The <c>tyche</c> tool: its dispatcher and <c>run</c> command in process, and the built program as a real process.</summary>
public sealed class CliTests
{
    private const string ScriptWithMalformedLine =
        "# a comment\nd0 = create_manager_domain ALL\n\nnonsense 1 2\nalias d9 0 0 0 R\ncreate_domain\ncapacity\n";

    private static (int Exit, string Out, string Err) RunInProcess(string stdin, params string[] args)
    {
        using StringReader input = new(stdin);
        using StringWriter output = new();
        using StringWriter error = new();
        int exit = CliApplication.CreateDefault().Run(args, new CliConsole(input, output, error));
        return (exit, output.ToString(), error.ToString());
    }

    private static string Expected(string script) => new ScenarioRunner().RunScript(script);

    [Fact]
    public void Run_file_prints_one_line_per_command_and_exits_0_despite_a_malformed_line()
    {
        string path = Path.Combine(Path.GetTempPath(), $"tyche-cli-{Guid.NewGuid():N}.scenario");
        File.WriteAllText(path, ScriptWithMalformedLine);
        try
        {
            (int exit, string output, string error) = RunInProcess(string.Empty, "run", path);

            Assert.Equal(0, exit);
            Assert.Equal(string.Empty, error);
            Assert.Equal(Expected(ScriptWithMalformedLine), output);
            string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(5, lines.Length);
            Assert.Equal("nonsense 1 2 => usage unknown command 'nonsense'", lines[1]);
            Assert.Equal("alias d9 0 0 0 R => usage unknown domain name 'd9'", lines[2]);
            Assert.Equal("create_domain => usage create_domain DOM", lines[3]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Run_dash_reads_standard_input()
    {
        (int exit, string output, string error) = RunInProcess(ScriptWithMalformedLine, "run", "-");

        Assert.Equal(0, exit);
        Assert.Equal(string.Empty, error);
        Assert.Equal(Expected(ScriptWithMalformedLine), output);
    }

    [Fact]
    public void Run_reproduces_a_conformance_transcript()
    {
        string path = ScenarioFiles.PathOf("51_language_example.scenario");

        (int exit, string output, _) = RunInProcess(string.Empty, "run", path);

        Assert.Equal(0, exit);
        Assert.Equal(Expected(File.ReadAllText(path)), output);
        Assert.Equal(13, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void An_unreadable_file_exits_66_with_a_message()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"tyche-missing-{Guid.NewGuid():N}.scenario");

        (int exit, string output, string error) = RunInProcess(string.Empty, "run", missing);
        (int dirExit, string dirOutput, string dirError) = RunInProcess(string.Empty, "run", Path.GetTempPath());

        Assert.Equal(66, exit);
        Assert.Equal(string.Empty, output);
        Assert.Contains("cannot read", error, StringComparison.Ordinal);
        Assert.Contains(missing, error, StringComparison.Ordinal);
        Assert.Equal(66, dirExit);
        Assert.Equal(string.Empty, dirOutput);
        Assert.Contains("cannot read", dirError, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("frobnicate")]
    [InlineData("run")]
    [InlineData("run a b")]
    public void A_wrong_command_line_exits_64(string commandLine)
    {
        string[] args = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);

        (int exit, string output, string error) = RunInProcess(string.Empty, args);

        Assert.Equal(64, exit);
        Assert.Equal(string.Empty, output);
        Assert.NotEqual(string.Empty, error);
    }

    [Fact]
    public void Help_lists_the_commands_and_the_language()
    {
        (int exit, string output, _) = RunInProcess(string.Empty, "--help");
        (int runExit, string runHelp, _) = RunInProcess(string.Empty, "run", "--help");
        (int topicExit, string topicHelp, _) = RunInProcess(string.Empty, "help", "run");

        Assert.Equal(0, exit);
        Assert.Contains("Usage: tyche <command>", output, StringComparison.Ordinal);
        Assert.Contains("  run ", output, StringComparison.Ordinal);
        Assert.Equal(0, runExit);
        Assert.StartsWith("Usage: tyche run FILE", runHelp, StringComparison.Ordinal);
        Assert.All(ScenarioRunner.CommandSyntaxes, s => Assert.Contains(s, runHelp, StringComparison.Ordinal));
        Assert.Equal(0, topicExit);
        Assert.Equal(runHelp, topicHelp);
    }

    [Fact]
    public void The_built_program_runs_a_file_and_standard_input_as_a_process()
    {
        string path = Path.Combine(Path.GetTempPath(), $"tyche-cli-{Guid.NewGuid():N}.scenario");
        File.WriteAllText(path, ScriptWithMalformedLine);
        try
        {
            (int fileExit, string fileOut, _) = RunProcess(null, "run", path);
            (int stdinExit, string stdinOut, _) = RunProcess(ScriptWithMalformedLine, "run", "-");
            (int missingExit, string missingOut, string missingErr) = RunProcess(null, "run", path + ".missing");

            string expected = Expected(ScriptWithMalformedLine);
            Assert.Equal(0, fileExit);
            Assert.Equal(expected, fileOut);
            Assert.Equal(0, stdinExit);
            Assert.Equal(expected, stdinOut);
            Assert.Equal(66, missingExit);
            Assert.Equal(string.Empty, missingOut);
            Assert.Contains("cannot read", missingErr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static (int Exit, string Out, string Err) RunProcess(string? stdin, params string[] args)
    {
        string cli = Path.Combine(AppContext.BaseDirectory, "Tyche.Cli.dll");
        Assert.True(File.Exists(cli), $"{cli} is missing: the test project references samples/Tyche.Cli, so the build should copy it.");
        ProcessStartInfo start = new(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(cli);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
        }

        process.StandardInput.Close();
        System.Threading.Tasks.Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(60_000), "tyche did not exit within 60 s.");
        return (process.ExitCode, output, error.Result);
    }
}
