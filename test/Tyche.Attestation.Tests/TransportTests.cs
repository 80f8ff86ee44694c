// SPDX-License-Identifier: Apache-2.0
using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Tyche.Attestation.Tpm;

namespace Tyche.Attestation.Tests;

/// <summary>A transport double that answers every command with queued responses and records the commands.</summary>
internal sealed class FakeTpm : ITpmTransport
{
    private readonly Queue<byte[]> _responses;

    public FakeTpm(params byte[][] responses) => _responses = new Queue<byte[]>(responses);

    public List<byte[]> Commands { get; } = [];

    public byte[] Transmit(ReadOnlySpan<byte> command)
    {
        Commands.Add(command.ToArray());
        return _responses.Count > 1 ? _responses.Dequeue() : _responses.Peek();
    }

    public void Dispose()
    {
    }

    public static byte[] B2(byte[] data) => [(byte)(data.Length >> 8), (byte)data.Length, .. data];

    public static byte[] Header(ushort tag, uint rc, int bodyLength)
    {
        byte[] h = new byte[10];
        BinaryPrimitives.WriteUInt16BigEndian(h, tag);
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(2), (uint)(10 + bodyLength));
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(6), rc);
        return h;
    }

    /// <summary>A success response with a session area (one password session echo).</summary>
    public static byte[] SessionResponse(byte[] parameters)
    {
        byte[] auth = [0, 0, 1, 0, 0];
        byte[] body = [(byte)(parameters.Length >> 24), (byte)(parameters.Length >> 16), (byte)(parameters.Length >> 8), (byte)parameters.Length, .. parameters, .. auth];
        return [.. Header(0x8002, 0, body.Length), .. body];
    }

    public static byte[] Error(uint rc) => Header(0x8001, rc, 0);
}

/// <summary>A stream double for the device and mssim transports: reads come from a script, writes are recorded.</summary>
internal sealed class ScriptedStream : Stream
{
    private readonly MemoryStream _read;

    public ScriptedStream(byte[] toRead) => _read = new MemoryStream(toRead);

    public MemoryStream Written { get; } = new();

    public int ReadCalls { get; private set; }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count)
    {
        ReadCalls++;
        return _read.Read(buffer, offset, count);
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => Written.Write(buffer, offset, count);
}

public sealed class TransportTests
{
    private static readonly byte[] StartupCommand = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0];

    [Fact]
    public void Linux_device_transport_writes_once_and_reads_one_response()
    {
        byte[] response = FakeTpm.Header(0x8001, 0, 0);
        var stream = new ScriptedStream(response);
        using var t = new LinuxTpmDeviceTransport(stream);
        Assert.Equal(response, t.Transmit(StartupCommand));
        Assert.Equal(StartupCommand, stream.Written.ToArray());
        Assert.Equal(1, stream.ReadCalls);
    }

    [Fact]
    public void Linux_device_transport_rejects_short_and_inconsistent_responses()
    {
        using var shortT = new LinuxTpmDeviceTransport(new ScriptedStream([0x80, 0x01, 0, 0]));
        Assert.Throws<IOException>(() => shortT.Transmit(StartupCommand));
        byte[] lying = FakeTpm.Header(0x8001, 0, 4); // header claims 14 bytes, only 10 arrive
        using var lyingT = new LinuxTpmDeviceTransport(new ScriptedStream(lying));
        Assert.Throws<IOException>(() => lyingT.Transmit(StartupCommand));
        using var tooShortCommand = new LinuxTpmDeviceTransport(new ScriptedStream([]));
        Assert.Throws<ArgumentException>(() => tooShortCommand.Transmit([1, 2, 3]));
    }

    [Fact]
    public void Mssim_framing_wraps_commands_and_checks_the_acknowledgement()
    {
        byte[] response = FakeTpm.Header(0x8001, 0, 0);
        byte[] framed = [0, 0, 0, 10, .. response, 0, 0, 0, 0];
        var stream = new ScriptedStream(framed);
        using (var t = new StreamTpmTransport(stream, TpmStreamFraming.Mssim, locality: 3))
        {
            Assert.Equal(response, t.Transmit(StartupCommand));
        }

        byte[] written = stream.Written.ToArray();
        Assert.Equal(8u, BinaryPrimitives.ReadUInt32BigEndian(written));      // TPM_SEND_COMMAND
        Assert.Equal(3, written[4]);                                          // locality
        Assert.Equal(12u, BinaryPrimitives.ReadUInt32BigEndian(written.AsSpan(5)));
        Assert.Equal(StartupCommand, written[9..21]);
        Assert.Equal(20u, BinaryPrimitives.ReadUInt32BigEndian(written.AsSpan(21))); // TPM_SESSION_END on dispose

        using var badAck = new StreamTpmTransport(new ScriptedStream([0, 0, 0, 10, .. response, 0, 0, 0, 1]), TpmStreamFraming.Mssim);
        Assert.Throws<IOException>(() => badAck.Transmit(StartupCommand));
        using var huge = new StreamTpmTransport(new ScriptedStream([0, 1, 0, 0]), TpmStreamFraming.Mssim);
        Assert.Throws<IOException>(() => huge.Transmit(StartupCommand));
    }

    [Fact]
    public void Mssim_platform_signals_power_on_then_nv_on()
    {
        var stream = new ScriptedStream([0, 0, 0, 0, 0, 0, 0, 0]);
        using (var p = new MssimPlatformClient(stream))
        {
            p.PowerOnAndNvOn();
        }

        byte[] w = stream.Written.ToArray();
        Assert.Equal([1u, 11u, 20u], Enumerable.Range(0, 3).Select(i => BinaryPrimitives.ReadUInt32BigEndian(w.AsSpan(4 * i))));
        using var failing = new MssimPlatformClient(new ScriptedStream([0, 0, 0, 5]));
        Assert.Throws<IOException>(() => failing.Signal(MssimPlatformClient.SignalPowerOn));
    }

    [Fact]
    public void Retry_codes_are_retried_and_other_errors_are_decoded()
    {
        var fake = new FakeTpm(FakeTpm.Error(TpmResponseCode.Retry), FakeTpm.Error(TpmResponseCode.Yielded), FakeTpm.SessionResponse([]));
        using var tpm = new Tpm2(fake);
        tpm.PcrExtend(16, new byte[32]);
        Assert.Equal(3, fake.Commands.Count);
        Assert.Equal(2, tpm.RetryCount);

        using var locked = new Tpm2(new FakeTpm(FakeTpm.Error(TpmResponseCode.Lockout)));
        var ex = Assert.Throws<TpmException>(() => locked.PcrExtend(16, new byte[32]));
        Assert.Contains("TPM_RC_LOCKOUT", ex.Message, StringComparison.Ordinal);

        using var forever = new Tpm2(new FakeTpm(FakeTpm.Error(TpmResponseCode.Retry)));
        Assert.Throws<TpmException>(() => forever.PcrExtend(16, new byte[32]));
        Assert.Equal(Tpm2.MaxRetries, forever.RetryCount);
    }

    [Fact]
    public void Strict_parsing_rejects_trailing_bytes_wrong_tags_and_size_mismatch()
    {
        byte[] trailing = FakeTpm.SessionResponse([0x01]); // PCR_Extend returns no parameters
        using (var tpm = new Tpm2(new FakeTpm(trailing))) Assert.Throws<TpmException>(() => tpm.PcrExtend(16, new byte[32]));
        byte[] noSessions = FakeTpm.Header(0x8001, 0, 0);
        using (var tpm = new Tpm2(new FakeTpm(noSessions))) Assert.Throws<TpmException>(() => tpm.PcrExtend(16, new byte[32]));
        byte[] sizeLies = FakeTpm.SessionResponse([]);
        sizeLies[5]++;
        using (var tpm = new Tpm2(new FakeTpm(sizeLies))) Assert.Throws<TpmException>(() => tpm.PcrExtend(16, new byte[32]));
        byte[] errorWithBody = [.. FakeTpm.Header(0x8001, 0x101, 2), 0, 0];
        using (var tpm = new Tpm2(new FakeTpm(errorWithBody))) Assert.Throws<TpmException>(() => tpm.PcrExtend(16, new byte[32]));
    }

    [Theory]
    [InlineData(0x000u, "TPM_RC_SUCCESS")]
    [InlineData(0x100u, "TPM_RC_INITIALIZE")]
    [InlineData(0x922u, "TPM_RC_RETRY")]
    [InlineData(0x1D5u, "TPM_RC_SIZE (0x1D5: 0x095 on parameter 1)")]
    [InlineData(0x18Bu, "TPM_RC_HANDLE (0x18B: 0x08B on handle 1)")]
    [InlineData(0x98Eu, "TPM_RC_AUTH_FAIL (0x98E: 0x08E on session 1)")]
    [InlineData(0xD8Eu, "TPM_RC_AUTH_FAIL (0xD8E: 0x08E on session 5)")]
    [InlineData(0x01Eu, "TPM 1.2 response code 0x01E")]
    public void Response_codes_are_decoded(uint code, string expected)
    {
        Assert.StartsWith(expected, new TpmResponseCode(code).ToString(), StringComparison.Ordinal);
    }
}
