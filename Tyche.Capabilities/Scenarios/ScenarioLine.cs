// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Capabilities.Scenarios;

/// <summary>The three kinds of result a scenario command can have.</summary>
public enum ScenarioResultKind
{
    /// <summary>The operation succeeded (<c>ok</c>, possibly followed by a value).</summary>
    Ok,

    /// <summary>The engine refused the operation (<c>err &lt;ErrorName&gt;</c>); it changed nothing.</summary>
    Error,

    /// <summary>The line itself is malformed (<c>usage &lt;message&gt;</c>): unknown command, bad or missing argument, unbound name. Nothing ran.</summary>
    Usage,
}

/// <summary>
/// One executed command of a scenario script: its normalised text and its result. <see cref="ToString"/> gives the
/// output line, <c>&lt;command&gt; =&gt; ok …|err &lt;ErrorName&gt;|usage &lt;message&gt;</c>.
/// </summary>
public sealed class ScenarioLine
{
    internal ScenarioLine(string command, ScenarioResultKind kind, string value, CapabilityError error)
    {
        Command = command;
        Kind = kind;
        Value = value;
        Error = error;
    }

    /// <summary>The command's tokens joined by one space (comments and any <c>=&gt; …</c> expectation removed).</summary>
    public string Command { get; }

    /// <summary>Whether the command succeeded, failed in the engine, or was malformed.</summary>
    public ScenarioResultKind Kind { get; }

    /// <summary>
    /// The text after the result word: the value after <c>ok</c> (empty when there is none), the error name after
    /// <c>err</c> (possibly followed by detail, e.g. for <c>check</c>), or the message after <c>usage</c>.
    /// </summary>
    public string Value { get; }

    /// <summary>The engine's error for <see cref="ScenarioResultKind.Error"/> results that come from an engine call; otherwise <see cref="CapabilityError.Ok"/>.</summary>
    public CapabilityError Error { get; }

    /// <summary>The result part of the output line, e.g. <c>ok 3</c>, <c>err InvalidOperation</c>, <c>usage unknown command 'x'</c>.</summary>
    public string Result
    {
        get
        {
            string word = Kind switch
            {
                ScenarioResultKind.Ok => "ok",
                ScenarioResultKind.Error => "err",
                _ => "usage",
            };
            return Value.Length == 0 ? word : string.Concat(word, " ", Value);
        }
    }

    /// <summary>The output line: <c>&lt;command&gt; =&gt; &lt;result&gt;</c>.</summary>
    public override string ToString() => string.Concat(Command, " => ", Result);
}
