// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities;

/// <summary>Thrown by the convenience methods of <see cref="CapabilityEngineExtensions"/> when the engine refuses an operation.</summary>
public sealed class TycheException : Exception
{
    /// <summary>Creates an exception for <see cref="CapabilityError.InvalidOperation"/> with a default message.</summary>
    public TycheException()
        : this(CapabilityError.InvalidOperation, "The capability engine refused the operation.")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">A full sentence describing the failure.</param>
    public TycheException(string? message)
        : this(CapabilityError.InvalidOperation, message)
    {
    }

    /// <summary>Creates an exception with a message and an inner exception.</summary>
    /// <param name="message">A full sentence describing the failure.</param>
    /// <param name="innerException">The cause.</param>
    public TycheException(string? message, Exception? innerException)
        : base(message, innerException)
    {
        Error = CapabilityError.InvalidOperation;
    }

    /// <summary>Creates an exception for an engine error.</summary>
    /// <param name="error">The engine's error.</param>
    /// <param name="message">A full sentence describing the failure.</param>
    public TycheException(CapabilityError error, string? message)
        : base(message)
    {
        Error = error;
    }

    /// <summary>The engine's error.</summary>
    public CapabilityError Error { get; }
}
