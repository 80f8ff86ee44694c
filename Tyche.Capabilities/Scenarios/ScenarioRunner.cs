// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Tyche.Capabilities.Scenarios;

/// <summary>
/// Interprets the capability scenario language (docs/scenario-language.md) against a <see cref="CapabilityEngine"/>:
/// one command per line, exactly one output line per command, <c>&lt;command&gt; =&gt; ok …|err &lt;ErrorName&gt;|usage &lt;message&gt;</c>.
/// </summary>
/// <remarks>
/// <para>
/// A malformed line or a failing operation is a result line, never an exception: the runner goes on with the next
/// line. Blank lines and comment lines (<c>#</c> to the end of the line) print nothing. Everything from a standalone
/// <c>=&gt;</c> token on is ignored, so a transcript (the runner's own output) is valid input and replays to itself.
/// </para>
/// <para>
/// <c>NAME = command …</c> binds the command's result (a domain handle or a local capability index) to NAME for later
/// lines; <c>A B = share …</c> binds both results of the two-result commands. A failing command unbinds its names.
/// </para>
/// <para>
/// An exception thrown by the engine (which only happens on a broken internal invariant, i.e. an engine bug) becomes
/// an <c>err InternalError &lt;type&gt;: &lt;message&gt;</c> line; the engine's state after it is unspecified.
/// </para>
/// <para>This is a tool for the edge (CLI, tests, harnesses): unlike the engine it allocates freely.</para>
/// </remarks>
/// <example>
/// <code>
/// var runner = new ScenarioRunner();
/// string output = runner.RunScript("d0 = create_manager_domain ALL\nstart_domain_on_core d0 0\n");
/// // d0 = create_manager_domain ALL => ok H(0, gen 0)
/// // start_domain_on_core d0 0 => ok
/// </code>
/// </example>
public sealed partial class ScenarioRunner
{
    private readonly Dictionary<string, Binding> _names = new(StringComparer.Ordinal);
    private EngineCapacities _capacities;
    private CapabilityEngine _engine;

    /// <summary>Creates a runner over a fresh engine with the default capacities.</summary>
    public ScenarioRunner()
        : this(EngineCapacities.Default)
    {
    }

    /// <summary>Creates a runner over a fresh engine with the given capacities (also used by <c>reset</c>).</summary>
    /// <param name="capacities">The pool sizes of the engine.</param>
    /// <exception cref="ArgumentNullException"><paramref name="capacities"/> is null.</exception>
    public ScenarioRunner(EngineCapacities capacities)
    {
        ArgumentNullException.ThrowIfNull(capacities);
        _capacities = capacities;
        _engine = new CapabilityEngine(capacities);
    }

    /// <summary>Creates a runner over an existing engine (e.g. one a monitor facade also drives). <c>reset</c> replaces it with a fresh engine of the same capacities.</summary>
    /// <param name="engine">The engine to drive.</param>
    /// <exception cref="ArgumentNullException"><paramref name="engine"/> is null.</exception>
    public ScenarioRunner(CapabilityEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _engine = engine;
        _capacities = engine.Capacities;
    }

    /// <summary>The engine the commands run against (a new instance after each <c>reset</c>).</summary>
    public CapabilityEngine Engine => _engine;

    /// <summary>The names bound so far (domains and local capability indices), for diagnostics.</summary>
    public IReadOnlyCollection<string> BoundNames => _names.Keys;

    /// <summary>Runs one line of the language.</summary>
    /// <param name="line">The line (without its newline).</param>
    /// <returns>The executed command with its result, or <see langword="null"/> for a blank or comment-only line.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="line"/> is null.</exception>
    public ScenarioLine? Execute(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        string[] tokens = Tokenize(line);
        if (tokens.Length == 0)
        {
            return null;
        }

        string command = string.Join(' ', tokens);
        Outcome outcome = Dispatch(tokens);
        return new ScenarioLine(command, outcome.Kind, outcome.Value, outcome.Error);
    }

    /// <summary>Runs a whole script, writing one output line per command.</summary>
    /// <param name="script">The script; read to its end.</param>
    /// <param name="output">Where the output lines go (each terminated by <c>\n</c>).</param>
    /// <returns>The number of commands run (output lines written).</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public int Run(TextReader script, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(script);
        ArgumentNullException.ThrowIfNull(output);
        int commands = 0;
        while (script.ReadLine() is { } line)
        {
            if (Execute(line) is { } result)
            {
                output.Write(result.ToString());
                output.Write('\n');
                commands++;
            }
        }

        return commands;
    }

    /// <summary>Runs a whole script held in a string.</summary>
    /// <param name="script">The script text.</param>
    /// <returns>The output: one line per command, each terminated by <c>\n</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="script"/> is null.</exception>
    public string RunScript(string script)
    {
        ArgumentNullException.ThrowIfNull(script);
        using StringReader reader = new(script);
        using StringWriter writer = new(new StringBuilder());
        Run(reader, writer);
        return writer.ToString();
    }

    /// <summary>Splits a line into tokens: drops the comment (<c>#</c> …) and any expectation (a standalone <c>=&gt;</c> and what follows).</summary>
    internal static string[] Tokenize(string line)
    {
        int hash = line.IndexOf('#', StringComparison.Ordinal);
        string code = hash < 0 ? line : line[..hash];
        string[] tokens = code.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        int arrow = Array.IndexOf(tokens, "=>");
        return arrow < 0 ? tokens : tokens[..arrow];
    }

    private Outcome Dispatch(string[] tokens)
    {
        int names = 0;
        if (tokens.Length >= 2 && tokens[1] == "=")
        {
            names = 1;
        }
        else if (tokens.Length >= 3 && tokens[2] == "=")
        {
            names = 2;
        }

        for (int i = 0; i < names; i++)
        {
            if (!ScenarioSyntax.IsName(tokens[i]))
            {
                return Outcome.Usage($"'{tokens[i]}' is not a valid name (a letter or '_', then letters, digits or '_')");
            }
        }

        int start = names == 0 ? 0 : names + 1;
        if (start >= tokens.Length)
        {
            return Outcome.Usage("missing command after '='");
        }

        string name = tokens[start];
        if (!s_commands.TryGetValue(name, out Command? command))
        {
            return Outcome.Usage($"unknown command '{name}'");
        }

        int count = tokens.Length - start - 1;
        if (count < command.MinArguments || count > command.MaxArguments)
        {
            return Outcome.Usage(command.Syntax);
        }

        if (names > 0 && (command.Binds == BindKind.None || (names == 2 && command.Binds != BindKind.CapabilityPair)))
        {
            return Outcome.Usage(command.Binds == BindKind.None
                ? $"'{name}' gives no value to bind"
                : $"'{name}' gives one value: bind one name");
        }

        Outcome outcome;
        try
        {
            outcome = command.Handler(this, new Arguments(this, tokens, start + 1));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The engine only throws on a broken internal invariant, i.e. a bug. The language promises a result line
            // rather than a stack trace, so report it as one; the engine's state after it is unspecified.
            outcome = Outcome.ErrText(string.Concat("InternalError ", e.GetType().Name, ": ", e.Message));
        }

        if (names > 0)
        {
            Bind(tokens, names, outcome);
        }

        return outcome;
    }

    private void Bind(string[] tokens, int names, in Outcome outcome)
    {
        if (outcome.Kind != ScenarioResultKind.Ok)
        {
            for (int i = 0; i < names; i++)
            {
                _names.Remove(tokens[i]);
            }

            return;
        }

        switch (outcome.Binds)
        {
            case BindKind.Domain:
                _names[tokens[0]] = Binding.ForDomain(outcome.Domain);
                break;
            case BindKind.Capability:
                _names[tokens[0]] = Binding.ForCapability(outcome.First);
                break;
            case BindKind.CapabilityPair:
                _names[tokens[0]] = Binding.ForCapability(outcome.First);
                if (names == 2)
                {
                    _names[tokens[1]] = Binding.ForCapability(outcome.Second);
                }

                break;
            default:
                // A successful command without a bindable value (e.g. 'running' on an idle core): unbind.
                for (int i = 0; i < names; i++)
                {
                    _names.Remove(tokens[i]);
                }

                break;
        }
    }

    private void ResetEngine(EngineCapacities? capacities = null)
    {
        if (capacities is not null)
        {
            _capacities = capacities;
        }

        _engine = new CapabilityEngine(_capacities);
        _names.Clear();
    }

    internal bool TryResolve(string name, out Binding binding) => _names.TryGetValue(name, out binding);

    /// <summary>What a name stands for.</summary>
    internal readonly struct Binding
    {
        private Binding(bool isDomain, DomainHandle domain, int capability)
        {
            IsDomain = isDomain;
            Domain = domain;
            Capability = capability;
        }

        public bool IsDomain { get; }

        public DomainHandle Domain { get; }

        public int Capability { get; }

        public static Binding ForDomain(DomainHandle domain) => new(true, domain, 0);

        public static Binding ForCapability(int capability) => new(false, DomainHandle.Invalid, capability);
    }
}
