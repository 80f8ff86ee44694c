// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities.Scenarios;

/// <summary>What a command's result can be bound to.</summary>
internal enum BindKind
{
    /// <summary>Nothing to bind.</summary>
    None,

    /// <summary>A domain handle.</summary>
    Domain,

    /// <summary>A local capability index.</summary>
    Capability,

    /// <summary>Two local capability indices (share/grant: the revoke capability kept, the capability received).</summary>
    CapabilityPair,
}

/// <summary>The result of one command before it becomes a <see cref="ScenarioLine"/>.</summary>
internal readonly struct Outcome
{
    private Outcome(ScenarioResultKind kind, string value, CapabilityError error, BindKind binds, DomainHandle domain, int first, int second)
    {
        Kind = kind;
        Value = value;
        Error = error;
        Binds = binds;
        Domain = domain;
        First = first;
        Second = second;
    }

    public ScenarioResultKind Kind { get; }

    public string Value { get; }

    public CapabilityError Error { get; }

    public BindKind Binds { get; }

    public DomainHandle Domain { get; }

    public int First { get; }

    public int Second { get; }

    public static Outcome Ok(string value = "") =>
        new(ScenarioResultKind.Ok, value, CapabilityError.Ok, BindKind.None, DomainHandle.Invalid, 0, 0);

    public static Outcome OkDomain(DomainHandle domain) =>
        new(ScenarioResultKind.Ok, domain.ToString(), CapabilityError.Ok, BindKind.Domain, domain, 0, 0);

    public static Outcome OkCapability(LocalCapability capability) =>
        new(ScenarioResultKind.Ok, capability.ToString(), CapabilityError.Ok, BindKind.Capability, DomainHandle.Invalid, capability.Index, 0);

    public static Outcome OkPair(LocalCapability first, LocalCapability second) =>
        new(ScenarioResultKind.Ok, string.Concat(first.ToString(), " ", second.ToString()), CapabilityError.Ok, BindKind.CapabilityPair,
            DomainHandle.Invalid, first.Index, second.Index);

    public static Outcome Err(CapabilityError error) =>
        new(ScenarioResultKind.Error, error.ToString(), error, BindKind.None, DomainHandle.Invalid, 0, 0);

    /// <summary>An error that is not an engine <see cref="CapabilityError"/> (e.g. the invariant checker's report).</summary>
    public static Outcome ErrText(string text) =>
        new(ScenarioResultKind.Error, text, CapabilityError.Ok, BindKind.None, DomainHandle.Invalid, 0, 0);

    public static Outcome Usage(string message) =>
        new(ScenarioResultKind.Usage, message, CapabilityError.Ok, BindKind.None, DomainHandle.Invalid, 0, 0);

    /// <summary><c>ok</c> when the engine said <see cref="CapabilityError.Ok"/>, else <c>err …</c>.</summary>
    public static Outcome From(CapabilityError error) => error == CapabilityError.Ok ? Ok() : Err(error);
}

/// <summary>One command of the language: its name, syntax (the usage message), arity, bindable result and handler.</summary>
internal sealed class Command
{
    public Command(string syntax, int optional, BindKind binds, Func<ScenarioRunner, Arguments, Outcome> handler)
    {
        Syntax = syntax;
        string[] words = syntax.Split(' ');
        Name = words[0];
        MaxArguments = words.Length - 1;
        MinArguments = MaxArguments - optional;
        Binds = binds;
        Handler = handler;
    }

    public string Name { get; }

    /// <summary>The usage line, e.g. <c>alias DOM CAPA START END OPS [POLICY]</c>.</summary>
    public string Syntax { get; }

    public int MinArguments { get; }

    public int MaxArguments { get; }

    public BindKind Binds { get; }

    public Func<ScenarioRunner, Arguments, Outcome> Handler { get; }
}

/// <summary>
/// The arguments of one command with typed accessors. Each accessor returns <see langword="false"/> and records a
/// usage message on a malformed argument; the handler then returns <see cref="Fail"/>.
/// </summary>
internal sealed class Arguments
{
    private readonly ScenarioRunner _runner;
    private readonly string[] _tokens;
    private readonly int _start;
    private string _usage = "malformed arguments";

    public Arguments(ScenarioRunner runner, string[] tokens, int start)
    {
        _runner = runner;
        _tokens = tokens;
        _start = start;
    }

    public int Count => _tokens.Length - _start;

    public Outcome Fail => Outcome.Usage(_usage);

    public string this[int index] => _tokens[_start + index];

    public bool Has(int index) => index < Count;

    public bool Domain(int index, out DomainHandle domain)
    {
        string name = this[index];
        domain = DomainHandle.Invalid;
        if (!_runner.TryResolve(name, out ScenarioRunner.Binding binding))
        {
            return Usage($"unknown domain name '{name}'");
        }

        if (!binding.IsDomain)
        {
            return Usage($"'{name}' is a capability, not a domain");
        }

        domain = binding.Domain;
        return true;
    }

    public bool Capability(int index, out LocalCapability capability)
    {
        string text = this[index];
        if (ScenarioSyntax.TryParseNumber(text, out ulong n))
        {
            if (n <= int.MaxValue)
            {
                capability = new LocalCapability((int)n);
                return true;
            }

            capability = default;
            return Usage($"capability index '{text}' is too large");
        }

        if (_runner.TryResolve(text, out ScenarioRunner.Binding binding))
        {
            if (!binding.IsDomain)
            {
                capability = new LocalCapability(binding.Capability);
                return true;
            }

            capability = default;
            return Usage($"'{text}' is a domain, not a capability");
        }

        capability = default;
        return Usage($"unknown capability name '{text}'");
    }

    public bool Number(int index, out ulong value) =>
        ScenarioSyntax.TryParseNumber(this[index], out value) || Usage($"'{this[index]}' is not a number (decimal or 0x hex)");

    public bool Core(int index, out int core)
    {
        core = 0;
        if (!Number(index, out ulong n))
        {
            return false;
        }

        if (n > int.MaxValue)
        {
            return Usage($"core '{this[index]}' is too large");
        }

        core = (int)n;
        return true;
    }

    public bool Byte(int index, out byte value)
    {
        value = 0;
        if (!Number(index, out ulong n))
        {
            return false;
        }

        if (n > byte.MaxValue)
        {
            return Usage($"'{this[index]}' is not a byte (0 to 0xff)");
        }

        value = (byte)n;
        return true;
    }

    public bool Operations(int index, out MemoryOperations operations) =>
        ScenarioSyntax.TryParseOperations(this[index], out operations)
        || Usage($"bad OPS '{this[index]}' (letters from RWXSHCV, ALL, NONE or a number, joined by '|')");

    public bool Permissions(int index, out ulong permissions) =>
        ScenarioSyntax.TryParsePermissions(this[index], out permissions)
        || Usage($"bad PERMS '{this[index]}' (SPAWN|SEND|DUPLICATE|ALIAS|CARVE, ALL, NONE or a number)");

    public bool Bitmap(int index, out ConfigurationBitmap bitmap) =>
        ScenarioSyntax.TryParseBitmap(this[index], out bitmap)
        || Usage($"bad BITMAP '{this[index]}' (PERMISSION, TRAP, CORE or an index)");

    public bool BitmapValue(int index, ConfigurationBitmap bitmap, out ulong value) =>
        ScenarioSyntax.TryParseBitmapValue(this[index], bitmap, out value)
        || Usage($"bad VALUE '{this[index]}' (a number, ALL, NONE; PERMS for PERMISSION)");

    public bool Policy(int index, out CleanupPolicy policy)
    {
        policy = CleanupPolicy.Zero;
        return !Has(index)
            || ScenarioSyntax.TryParsePolicy(this[index], out policy)
            || Usage($"bad POLICY '{this[index]}' (ZERO, FLUSH, BOTH or NONE)");
    }

    public bool Device(int index, out DeviceId device) =>
        DeviceId.TryParse(this[index], out device)
        || Usage($"bad device '{this[index]}' (BB:DD.F or SSSS:BB:DD.F in hex)");

    public bool Range(int startIndex, out ulong start, out ulong end)
    {
        end = 0;
        return Number(startIndex, out start) && Number(startIndex + 1, out end);
    }

    private bool Usage(string message)
    {
        _usage = message;
        return false;
    }
}
