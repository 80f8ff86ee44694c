// SPDX-License-Identifier: Apache-2.0
using System;
using System.Buffers.Binary;
using System.IO;
using System.Net.Sockets;

namespace Tyche.Attestation.Tpm;

/// <summary>Carries one marshalled TPM 2.0 command to a TPM and returns its complete response.</summary>
public interface ITpmTransport : IDisposable
{
    /// <summary>Sends <paramref name="command"/> and returns the whole response (header included).</summary>
    /// <exception cref="IOException">The connection failed or the response framing is invalid.</exception>
    byte[] Transmit(ReadOnlySpan<byte> command);
}

/// <summary>How TPM commands are framed on a byte stream.</summary>
public enum TpmStreamFraming
{
    /// <summary>Raw command and response bytes (swtpm data port, <c>/dev/tpmrm0</c>).</summary>
    Raw,

    /// <summary>
    /// Microsoft simulator framing: <c>U32 TPM_SEND_COMMAND | U8 locality | U32 length | command</c>, answered by
    /// <c>U32 length | response | U32 0</c>. swtpm detects it automatically on its data port.
    /// </summary>
    Mssim,
}

/// <summary>Size limits of the TPM wire format.</summary>
public static class TpmWireLimits
{
    /// <summary>Size of a command or response header: tag (2), size (4), code (4) (Part 1 §18.7).</summary>
    public const int HeaderSize = 10;

    /// <summary>Largest response accepted from any transport (TPM_PT_MAX_RESPONSE_SIZE is 4096 on every known TPM).</summary>
    public const int MaxResponseSize = 4096;
}

/// <summary>A TPM reached over a byte stream (TCP socket, or any stream a test supplies) with a chosen framing.</summary>
public class StreamTpmTransport : ITpmTransport
{
    // Microsoft TPM simulator protocol (TpmTcpProtocol.h): command numbers on the TPM port.
    private const uint MssimSendCommand = 8;
    private const uint MssimSessionEnd = 20;

    private readonly Stream _stream;
    private readonly TpmStreamFraming _framing;
    private readonly byte _locality;
    private readonly IDisposable? _owner;
    private bool _disposed;

    /// <summary>Wraps a connected stream.</summary>
    /// <param name="stream">The connected stream; it is disposed with the transport.</param>
    /// <param name="framing">The framing spoken on the stream.</param>
    /// <param name="locality">The locality sent with mssim framing (0–4).</param>
    public StreamTpmTransport(Stream stream, TpmStreamFraming framing, byte locality = 0)
        : this(stream, framing, locality, null)
    {
    }

    private StreamTpmTransport(Stream stream, TpmStreamFraming framing, byte locality, IDisposable? owner)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = stream;
        _framing = framing;
        _locality = locality;
        _owner = owner;
    }

    /// <summary>Connects to a TPM simulator (swtpm or the Microsoft simulator) over TCP.</summary>
    /// <param name="host">Host name or address.</param>
    /// <param name="port">The TPM command port (swtpm <c>--server port</c>, mssim 2321).</param>
    /// <param name="framing">Raw for swtpm, mssim for the Microsoft simulator (swtpm accepts both).</param>
    /// <param name="timeout">Send and receive timeout; real TPMs creating RSA keys need seconds.</param>
    public static StreamTpmTransport ConnectTcp(string host, int port, TpmStreamFraming framing, TimeSpan? timeout = null)
    {
        var client = new TcpClient { NoDelay = true };
        try
        {
            int ms = (int)(timeout ?? TimeSpan.FromSeconds(30)).TotalMilliseconds;
            client.SendTimeout = ms;
            client.ReceiveTimeout = ms;
            client.Connect(host, port);
            return new StreamTpmTransport(client.GetStream(), framing, 0, client);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public byte[] Transmit(ReadOnlySpan<byte> command)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (command.Length < TpmWireLimits.HeaderSize) throw new ArgumentException("A TPM command has at least a 10-byte header.", nameof(command));
        if (_framing == TpmStreamFraming.Mssim)
        {
            Span<byte> prefix = stackalloc byte[9];
            BinaryPrimitives.WriteUInt32BigEndian(prefix, MssimSendCommand);
            prefix[4] = _locality;
            BinaryPrimitives.WriteUInt32BigEndian(prefix[5..], (uint)command.Length);
            _stream.Write(prefix);
            _stream.Write(command);
            _stream.Flush();
            Span<byte> lengthBytes = stackalloc byte[4];
            _stream.ReadExactly(lengthBytes);
            uint length = BinaryPrimitives.ReadUInt32BigEndian(lengthBytes);
            if (length < TpmWireLimits.HeaderSize || length > TpmWireLimits.MaxResponseSize)
            {
                throw new IOException($"mssim response length {length} is outside 10..{TpmWireLimits.MaxResponseSize}.");
            }

            byte[] response = new byte[length];
            _stream.ReadExactly(response);
            _stream.ReadExactly(lengthBytes);
            uint ack = BinaryPrimitives.ReadUInt32BigEndian(lengthBytes);
            if (ack != 0) throw new IOException($"mssim acknowledgement was {ack}, expected 0.");
            CheckHeaderSize(response, (int)length);
            return response;
        }

        _stream.Write(command);
        _stream.Flush();
        byte[] header = new byte[TpmWireLimits.HeaderSize];
        _stream.ReadExactly(header);
        uint size = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(2));
        if (size < TpmWireLimits.HeaderSize || size > TpmWireLimits.MaxResponseSize)
        {
            throw new IOException($"TPM response size {size} is outside 10..{TpmWireLimits.MaxResponseSize}.");
        }

        byte[] full = new byte[size];
        header.CopyTo(full, 0);
        _stream.ReadExactly(full.AsSpan(TpmWireLimits.HeaderSize));
        return full;
    }

    internal static void CheckHeaderSize(ReadOnlySpan<byte> response, int length)
    {
        uint size = BinaryPrimitives.ReadUInt32BigEndian(response[2..]);
        if (size != (uint)length) throw new IOException($"TPM response header says {size} bytes but the frame holds {length}.");
    }

    /// <summary>Ends the session (mssim) and closes the stream.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_framing == TpmStreamFraming.Mssim)
        {
            try
            {
                Span<byte> end = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32BigEndian(end, MssimSessionEnd);
                _stream.Write(end);
                _stream.Flush();
            }
            catch (IOException)
            {
                // The peer may already be gone; closing is all that is left to do.
            }
        }

        _stream.Dispose();
        _owner?.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// The Linux TPM character device. Use <c>/dev/tpmrm0</c> (kernel resource manager: transient objects and sessions
/// are virtualised per file descriptor) rather than <c>/dev/tpm0</c>. One command is one write(); its response is
/// one read() of at most 4096 bytes.
/// </summary>
public sealed class LinuxTpmDeviceTransport : ITpmTransport
{
    /// <summary>The kernel's resource-managed TPM device.</summary>
    public const string ResourceManagedDevice = "/dev/tpmrm0";

    private readonly Stream _stream;
    private bool _disposed;

    /// <summary>Opens the device (the service account needs the <c>tss</c> group for <c>/dev/tpmrm0</c>).</summary>
    public LinuxTpmDeviceTransport(string path = ResourceManagedDevice)
        : this(new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 0, FileOptions.None))
    {
    }

    /// <summary>Uses an already opened device stream (or a test double behaving like one).</summary>
    public LinuxTpmDeviceTransport(Stream deviceStream)
    {
        ArgumentNullException.ThrowIfNull(deviceStream);
        _stream = deviceStream;
    }

    /// <inheritdoc/>
    public byte[] Transmit(ReadOnlySpan<byte> command)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (command.Length < TpmWireLimits.HeaderSize) throw new ArgumentException("A TPM command has at least a 10-byte header.", nameof(command));
        _stream.Write(command);
        _stream.Flush();
        byte[] buffer = new byte[TpmWireLimits.MaxResponseSize];
        int read = _stream.Read(buffer, 0, buffer.Length);
        if (read < TpmWireLimits.HeaderSize) throw new IOException($"TPM device returned {read} bytes, fewer than a response header.");
        StreamTpmTransport.CheckHeaderSize(buffer, read);
        return buffer.AsSpan(0, read).ToArray();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stream.Dispose();
    }
}

/// <summary>
/// The Microsoft TPM simulator's platform port (default 2321 + 1): power and NV signals that a real platform would
/// drive through hardware lines (TpmTcpProtocol.h). Each signal is a big-endian U32 answered by a U32 0.
/// </summary>
public sealed class MssimPlatformClient : IDisposable
{
    /// <summary>TPM_SIGNAL_POWER_ON.</summary>
    public const uint SignalPowerOn = 1;
    /// <summary>TPM_SIGNAL_POWER_OFF.</summary>
    public const uint SignalPowerOff = 2;
    /// <summary>TPM_SIGNAL_NV_ON.</summary>
    public const uint SignalNvOn = 11;
    /// <summary>TPM_SESSION_END.</summary>
    public const uint SessionEnd = 20;

    private readonly Stream _stream;
    private readonly IDisposable? _owner;

    /// <summary>Uses a connected platform-port stream.</summary>
    public MssimPlatformClient(Stream stream) : this(stream, null)
    {
    }

    private MssimPlatformClient(Stream stream, IDisposable? owner)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = stream;
        _owner = owner;
    }

    /// <summary>Connects to the platform port of a Microsoft simulator.</summary>
    public static MssimPlatformClient Connect(string host, int platformPort)
    {
        var client = new TcpClient { NoDelay = true };
        try
        {
            client.Connect(host, platformPort);
            return new MssimPlatformClient(client.GetStream(), client);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Powers the simulated TPM on and then turns its NV memory on (what a platform does before TPM2_Startup).</summary>
    public void PowerOnAndNvOn()
    {
        Signal(SignalPowerOn);
        Signal(SignalNvOn);
    }

    /// <summary>Sends one platform signal and checks that the simulator acknowledged it with 0.</summary>
    public void Signal(uint signal)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, signal);
        _stream.Write(b);
        _stream.Flush();
        _stream.ReadExactly(b);
        uint result = BinaryPrimitives.ReadUInt32BigEndian(b);
        if (result != 0) throw new IOException($"mssim platform signal {signal} answered {result}, expected 0.");
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        try
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(b, SessionEnd);
            _stream.Write(b);
        }
        catch (IOException)
        {
            // Best effort: the simulator may already have closed the connection.
        }

        _stream.Dispose();
        _owner?.Dispose();
    }
}
