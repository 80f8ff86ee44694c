// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;

namespace Tyche.Attestation.Tpm;

/// <summary>
/// A TPM 2.0 response code (TPM_RC) decoded into a readable form (TPM 2.0 Library Part 2 §6.6, Figures 26–27).
/// </summary>
public readonly struct TpmResponseCode : IEquatable<TpmResponseCode>
{
    // Part 2 §6.6.2 Figure 26/27: field layout of a response code.
    private const uint FormatOneBit = 1u << 7;        // F: format-one (parameter/handle/session) error
    private const uint FormatOneNumberMask = 0x3Fu;   // E (bits 5:0) in format one
    private const uint FormatZeroNumberMask = 0x7Fu;  // E (bits 6:0) in format zero
    private const uint Version1Bit = 1u << 8;         // V: TPM 2.0 code (otherwise TPM 1.2)
    private const uint VendorBit = 1u << 10;          // T: vendor-defined
    private const uint WarningBit = 1u << 11;         // S: warning (format zero)
    private const uint ParameterBit = 1u << 6;        // P: format one, the number names a parameter
    private const int NumberShift = 8;                // N: bits 11:8 in format one
    private const uint NumberMask = 0xFu;
    private const uint SessionFlag = 0x8u;             // N bit 3 set (with P clear) names a session

    /// <summary>TPM_RC_SUCCESS.</summary>
    public const uint Success = 0x000;
    /// <summary>TPM_RC_INITIALIZE: TPM2_Startup was already done (RC_VER1 + 0x000).</summary>
    public const uint Initialize = 0x100;
    /// <summary>TPM_RC_YIELDED (RC_WARN + 0x008).</summary>
    public const uint Yielded = 0x908;
    /// <summary>TPM_RC_TESTING (RC_WARN + 0x00A).</summary>
    public const uint Testing = 0x90A;
    /// <summary>TPM_RC_LOCKOUT (RC_WARN + 0x021).</summary>
    public const uint Lockout = 0x921;
    /// <summary>TPM_RC_RETRY (RC_WARN + 0x022).</summary>
    public const uint Retry = 0x922;
    /// <summary>TPM_RC_OBJECT_MEMORY (RC_WARN + 0x002).</summary>
    public const uint ObjectMemory = 0x902;

    /// <summary>Creates a response code from its raw value.</summary>
    public TpmResponseCode(uint value) => Value = value;

    /// <summary>The raw 32-bit response code.</summary>
    public uint Value { get; }

    /// <summary>Whether the code is TPM_RC_SUCCESS.</summary>
    public bool IsSuccess => Value == Success;

    /// <summary>Whether the command should simply be sent again (RETRY, YIELDED, TESTING).</summary>
    public bool IsTransient => Value is Retry or Yielded or Testing;

    /// <summary>Whether the code is in format one (it names a handle, parameter or session).</summary>
    public bool IsFormatOne => (Value & FormatOneBit) != 0 && (Value & Version1Bit) != 0;

    /// <summary>The base error, with the handle/parameter/session number removed.</summary>
    public uint BaseCode => IsFormatOne ? (Value & (FormatOneBit | FormatOneNumberMask)) : Value;

    /// <summary>Describes the code, e.g. <c>TPM_RC_VALUE (0x0000084 = 0x084 on parameter 1)</c>.</summary>
    public override string ToString()
    {
        uint v = Value;
        string hex = "0x" + v.ToString("X3", CultureInfo.InvariantCulture);
        if (v == Success) return "TPM_RC_SUCCESS (0x000)";
        if ((v & Version1Bit) == 0 && (v & FormatOneBit) == 0)
        {
            return $"TPM 1.2 response code {hex}";
        }

        if ((v & VendorBit) != 0 && (v & FormatOneBit) == 0) return $"vendor-defined response code {hex}";
        if (IsFormatOne)
        {
            uint number = (v >> NumberShift) & NumberMask;
            string where;
            if ((v & ParameterBit) != 0) where = $"parameter {number}";
            else if ((number & SessionFlag) != 0) where = $"session {number & ~SessionFlag}";
            else where = $"handle {number}";
            uint baseCode = BaseCode;
            return $"{Name(baseCode)} ({hex}: 0x{baseCode:X3} on {where})";
        }

        return $"{Name(v)} ({hex}{((v & WarningBit) != 0 ? ", warning" : string.Empty)})";
    }

    private static string Name(uint code) => code switch
    {
        // Part 2 §6.6.3 Table 16: format-zero codes (RC_VER1 = 0x100, RC_WARN = 0x900) and format-one codes (RC_FMT1 = 0x080).
        0x100 => "TPM_RC_INITIALIZE",
        0x101 => "TPM_RC_FAILURE",
        0x103 => "TPM_RC_SEQUENCE",
        0x10B => "TPM_RC_PRIVATE",
        0x119 => "TPM_RC_HMAC",
        0x120 => "TPM_RC_DISABLED",
        0x121 => "TPM_RC_EXCLUSIVE",
        0x124 => "TPM_RC_AUTH_TYPE",
        0x125 => "TPM_RC_AUTH_MISSING",
        0x126 => "TPM_RC_POLICY",
        0x127 => "TPM_RC_PCR",
        0x128 => "TPM_RC_PCR_CHANGED",
        0x12D => "TPM_RC_UPGRADE",
        0x12E => "TPM_RC_TOO_MANY_CONTEXTS",
        0x12F => "TPM_RC_AUTH_UNAVAILABLE",
        0x130 => "TPM_RC_REBOOT",
        0x131 => "TPM_RC_UNBALANCED",
        0x142 => "TPM_RC_COMMAND_SIZE",
        0x143 => "TPM_RC_COMMAND_CODE",
        0x144 => "TPM_RC_AUTHSIZE",
        0x145 => "TPM_RC_AUTH_CONTEXT",
        0x146 => "TPM_RC_NV_RANGE",
        0x147 => "TPM_RC_NV_SIZE",
        0x148 => "TPM_RC_NV_LOCKED",
        0x149 => "TPM_RC_NV_AUTHORIZATION",
        0x14A => "TPM_RC_NV_UNINITIALIZED",
        0x14B => "TPM_RC_NV_SPACE",
        0x14C => "TPM_RC_NV_DEFINED",
        0x150 => "TPM_RC_BAD_CONTEXT",
        0x151 => "TPM_RC_CPHASH",
        0x152 => "TPM_RC_PARENT",
        0x153 => "TPM_RC_NEEDS_TEST",
        0x154 => "TPM_RC_NO_RESULT",
        0x155 => "TPM_RC_SENSITIVE",
        0x081 => "TPM_RC_ASYMMETRIC",
        0x082 => "TPM_RC_ATTRIBUTES",
        0x083 => "TPM_RC_HASH",
        0x084 => "TPM_RC_VALUE",
        0x085 => "TPM_RC_HIERARCHY",
        0x087 => "TPM_RC_KEY_SIZE",
        0x088 => "TPM_RC_MGF",
        0x089 => "TPM_RC_MODE",
        0x08A => "TPM_RC_TYPE",
        0x08B => "TPM_RC_HANDLE",
        0x08C => "TPM_RC_KDF",
        0x08D => "TPM_RC_RANGE",
        0x08E => "TPM_RC_AUTH_FAIL",
        0x08F => "TPM_RC_NONCE",
        0x090 => "TPM_RC_PP",
        0x092 => "TPM_RC_SCHEME",
        0x095 => "TPM_RC_SIZE",
        0x096 => "TPM_RC_SYMMETRIC",
        0x097 => "TPM_RC_TAG",
        0x098 => "TPM_RC_SELECTOR",
        0x09A => "TPM_RC_INSUFFICIENT",
        0x09B => "TPM_RC_SIGNATURE",
        0x09C => "TPM_RC_KEY",
        0x09D => "TPM_RC_POLICY_FAIL",
        0x09F => "TPM_RC_INTEGRITY",
        0x0A0 => "TPM_RC_TICKET",
        0x0A1 => "TPM_RC_RESERVED_BITS",
        0x0A2 => "TPM_RC_BAD_AUTH",
        0x0A3 => "TPM_RC_EXPIRED",
        0x0A4 => "TPM_RC_POLICY_CC",
        0x0A5 => "TPM_RC_BINDING",
        0x0A6 => "TPM_RC_CURVE",
        0x0A7 => "TPM_RC_ECC_POINT",
        0x901 => "TPM_RC_CONTEXT_GAP",
        0x902 => "TPM_RC_OBJECT_MEMORY",
        0x903 => "TPM_RC_SESSION_MEMORY",
        0x904 => "TPM_RC_MEMORY",
        0x905 => "TPM_RC_SESSION_HANDLES",
        0x906 => "TPM_RC_OBJECT_HANDLES",
        0x907 => "TPM_RC_LOCALITY",
        0x908 => "TPM_RC_YIELDED",
        0x909 => "TPM_RC_CANCELED",
        0x90A => "TPM_RC_TESTING",
        0x921 => "TPM_RC_LOCKOUT",
        0x922 => "TPM_RC_RETRY",
        0x923 => "TPM_RC_NV_UNAVAILABLE",
        _ => "TPM_RC_UNKNOWN",
    };

    /// <inheritdoc/>
    public bool Equals(TpmResponseCode other) => Value == other.Value;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TpmResponseCode other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => (int)Value;

    /// <summary>Equality.</summary>
    public static bool operator ==(TpmResponseCode left, TpmResponseCode right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(TpmResponseCode left, TpmResponseCode right) => !left.Equals(right);
}

/// <summary>A TPM command failed: the TPM returned a non-success response code, or its response was malformed.</summary>
public sealed class TpmException : Exception
{
    /// <summary>Creates an exception for a failed command.</summary>
    public TpmException(TpmCommandCode command, TpmResponseCode responseCode)
        : base($"TPM2_{command} failed: {responseCode}")
    {
        Command = command;
        ResponseCode = responseCode;
    }

    /// <summary>Creates an exception for a malformed or unexpected response.</summary>
    public TpmException(TpmCommandCode command, string message)
        : base($"TPM2_{command}: {message}")
    {
        Command = command;
    }

    /// <summary>Creates an exception with a message.</summary>
    public TpmException(string message) : base(message)
    {
    }

    /// <summary>Creates an exception with a message and an inner exception.</summary>
    public TpmException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>Creates an exception without details.</summary>
    public TpmException()
    {
    }

    /// <summary>The command that failed.</summary>
    public TpmCommandCode Command { get; }

    /// <summary>The TPM's response code, or success when the failure was a malformed response.</summary>
    public TpmResponseCode ResponseCode { get; }
}
