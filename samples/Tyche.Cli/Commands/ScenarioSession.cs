// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using Tyche.Capabilities;
using Tyche.Capabilities.Scenarios;

namespace Tyche.Cli;

/// <summary>
/// The engine state after running a scenario file, with the names the script bound to domains (so that commands such as
/// <c>ept</c>, <c>pmp</c> and <c>render</c> can refer to <c>d1</c> instead of <c>H(1, gen 0)</c>).
/// </summary>
internal sealed class ScenarioSession
{
    private readonly Dictionary<DomainHandle, string> _namesByDomain = [];
    private readonly Dictionary<string, DomainHandle> _domainsByName = new(StringComparer.Ordinal);

    private ScenarioSession(ScenarioRunner runner) => Runner = runner;

    /// <summary>The runner (its engine holds the final state).</summary>
    public ScenarioRunner Runner { get; }

    /// <summary>The engine after the script.</summary>
    public CapabilityEngine Engine => Runner.Engine;

    /// <summary>Lines whose result was <c>err</c> or <c>usage</c>, for a warning.</summary>
    public List<ScenarioLine> Failures { get; } = [];

    /// <summary>Runs a script from a file (or standard input for <c>-</c>).</summary>
    /// <param name="path">The path, or <c>-</c>.</param>
    /// <param name="console">Where standard input comes from and errors go.</param>
    /// <param name="command">The command name for error messages.</param>
    /// <param name="session">The session on success.</param>
    /// <returns><see langword="false"/> when the file cannot be read (the error has been printed).</returns>
    public static bool TryLoad(string path, CliConsole console, string command, out ScenarioSession session)
    {
        session = new ScenarioSession(new ScenarioRunner());
        TextReader reader;
        try
        {
            reader = path == "-" ? console.In : new StreamReader(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            console.Error.WriteLine($"tyche {command}: cannot read '{path}': {e.Message}");
            return false;
        }

        try
        {
            while (reader.ReadLine() is { } line)
            {
                session.Execute(line);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            console.Error.WriteLine($"tyche {command}: cannot read '{path}': {e.Message}");
            return false;
        }
        finally
        {
            if (!ReferenceEquals(reader, console.In))
            {
                reader.Dispose();
            }
        }

        if (session.Failures.Count > 0)
        {
            // The state is still drawn/dumped, but a script that did not do what its author meant should not go unnoticed.
            console.Error.WriteLine($"tyche {command}: note: {session.Failures.Count} script line(s) did not succeed; the first: {session.Failures[0]}");
        }

        return true;
    }

    /// <summary>Resolves a domain named by the script (<c>d1</c>) or written as a handle (<c>H(1, gen 0)</c>, <c>1</c> for slot 1).</summary>
    /// <param name="text">The name or handle.</param>
    /// <param name="domain">The live domain.</param>
    /// <returns><see langword="false"/> when no live domain matches.</returns>
    public bool TryResolveDomain(string text, out DomainHandle domain)
    {
        if (_domainsByName.TryGetValue(text, out domain) && Engine.IsLive(domain))
        {
            return true;
        }

        if (TryParseHandle(text, out domain) && Engine.IsLive(domain))
        {
            return true;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int slot))
        {
            foreach (DomainHandle live in LiveDomains())
            {
                if (live.Index == slot)
                {
                    domain = live;
                    return true;
                }
            }
        }

        domain = DomainHandle.Invalid;
        return false;
    }

    /// <summary>The script's name for a domain, or its handle text.</summary>
    /// <param name="domain">The domain.</param>
    /// <returns>E.g. <c>saas</c> or <c>H(3, gen 0)</c>.</returns>
    public string NameOf(DomainHandle domain) => _namesByDomain.TryGetValue(domain, out string? name) ? name : domain.ToString();

    /// <summary>The live domains in slot order.</summary>
    /// <returns>The handles.</returns>
    public DomainHandle[] LiveDomains()
    {
        DomainHandle[] buffer = new DomainHandle[Engine.Capacities.Domains];
        int count = Engine.GetDomains(buffer);
        return buffer.AsSpan(0, count).ToArray();
    }

    /// <summary>Names a domain (samples that build their state in C# rather than in a script).</summary>
    /// <param name="name">The name.</param>
    /// <param name="domain">The domain.</param>
    public void Name(string name, DomainHandle domain)
    {
        _domainsByName[name] = domain;
        _namesByDomain[domain] = name;
    }

    private void Execute(string line)
    {
        if (Runner.Execute(line) is not { } result)
        {
            return;
        }

        if (result.Kind != ScenarioResultKind.Ok)
        {
            Failures.Add(result);
            return;
        }

        // "NAME = command ..." whose value is a domain handle binds NAME to that domain.
        int equals = result.Command.IndexOf(" = ", StringComparison.Ordinal);
        if (equals > 0 && TryParseHandle(result.Value, out DomainHandle domain))
        {
            Name(result.Command[..equals].Trim(), domain);
        }
    }

    private static bool TryParseHandle(string text, out DomainHandle domain)
    {
        // The engine's display format: H(<index>, gen <generation>).
        domain = DomainHandle.Invalid;
        ReadOnlySpan<char> s = text.AsSpan().Trim();
        if (!s.StartsWith("H(", StringComparison.Ordinal) || !s.EndsWith(')'))
        {
            return false;
        }

        s = s[2..^1];
        int comma = s.IndexOf(',');
        if (comma < 0)
        {
            return false;
        }

        ReadOnlySpan<char> generation = s[(comma + 1)..].Trim();
        if (!generation.StartsWith("gen ", StringComparison.Ordinal)
            || !int.TryParse(s[..comma].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            || !uint.TryParse(generation[4..], NumberStyles.None, CultureInfo.InvariantCulture, out uint gen))
        {
            return false;
        }

        domain = new DomainHandle(index, gen);
        return true;
    }
}
