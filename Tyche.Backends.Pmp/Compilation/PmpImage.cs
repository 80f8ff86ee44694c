// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Backends.Pmp;

/// <summary>
/// The full PMP register image of one hart: every implemented entry's <c>pmpaddr</c> value and configuration byte.
/// Sized once; compiling into it never allocates.
/// </summary>
public sealed class PmpImage
{
    private readonly ulong[] _addresses;
    private readonly PmpConfigBits[] _configs;

    /// <summary>Creates an all-OFF image (every address and configuration byte zero).</summary>
    /// <param name="xlen">Register width.</param>
    /// <param name="entryCount">Implemented entries, 1–64.</param>
    public PmpImage(PmpXlen xlen, int entryCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(entryCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(entryCount, PmpEncoding.MaxEntries);
        Xlen = xlen;
        _addresses = new ulong[entryCount];
        _configs = new PmpConfigBits[entryCount];
    }

    /// <summary>Register width.</summary>
    public PmpXlen Xlen { get; }

    /// <summary>Number of entries.</summary>
    public int EntryCount => _addresses.Length;

    /// <summary>Number of <c>pmpcfg</c> registers that hold this image's configuration bytes.</summary>
    public int ConfigRegisterCount => (EntryCount + PmpEncoding.EntriesPerConfigRegister(Xlen) - 1) / PmpEncoding.EntriesPerConfigRegister(Xlen);

    /// <summary>The <c>pmpaddr</c> value of an entry.</summary>
    /// <param name="entry">Entry index.</param>
    /// <returns>The register value.</returns>
    public ulong GetAddress(int entry) => _addresses[entry];

    /// <summary>The configuration byte of an entry.</summary>
    /// <param name="entry">Entry index.</param>
    /// <returns>The byte.</returns>
    public PmpConfigBits GetConfig(int entry) => _configs[entry];

    /// <summary>Sets one entry (used by the compiler and by tests building reference images).</summary>
    /// <param name="entry">Entry index.</param>
    /// <param name="address">The <c>pmpaddr</c> value.</param>
    /// <param name="config">The configuration byte.</param>
    public void SetEntry(int entry, ulong address, PmpConfigBits config)
    {
        _addresses[entry] = address;
        _configs[entry] = config;
    }

    /// <summary>The value of the <paramref name="register"/>-th existing <c>pmpcfg</c> register (0 → pmpcfg0, 1 → pmpcfg2 on RV64 or pmpcfg1 on RV32).</summary>
    /// <param name="register">Zero-based position among the existing configuration registers.</param>
    /// <returns>The packed bytes, entry <c>register·k</c> in the low byte.</returns>
    public ulong GetConfigRegister(int register)
    {
        int per = PmpEncoding.EntriesPerConfigRegister(Xlen);
        ulong value = 0;
        for (int b = 0; b < per; b++)
        {
            int entry = (register * per) + b;
            if (entry < EntryCount)
            {
                value |= (ulong)_configs[entry] << (b * PmpEncoding.BitsPerConfigByte);
            }
        }

        return value;
    }

    /// <summary>The CSR number of the <paramref name="register"/>-th existing <c>pmpcfg</c> register.</summary>
    /// <param name="register">Zero-based position among the existing configuration registers.</param>
    /// <returns>The CSR number.</returns>
    public ushort GetConfigRegisterCsr(int register) => PmpEncoding.ConfigCsr(Xlen, register * PmpEncoding.EntriesPerConfigRegister(Xlen));

    /// <summary>Number of entries whose A field is not OFF.</summary>
    public int ActiveEntryCount
    {
        get
        {
            int n = 0;
            foreach (PmpConfigBits c in _configs)
            {
                if (PmpEncoding.GetMatching(c) != PmpAddressMatching.Off)
                {
                    n++;
                }
            }

            return n;
        }
    }

    /// <summary>Copies every entry into <paramref name="destination"/>, which must have the same shape.</summary>
    /// <param name="destination">The image to overwrite.</param>
    public void CopyTo(PmpImage destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (destination.EntryCount != EntryCount || destination.Xlen != Xlen)
        {
            throw new ArgumentException("The destination image has a different shape.", nameof(destination));
        }

        _addresses.AsSpan().CopyTo(destination._addresses);
        _configs.AsSpan().CopyTo(destination._configs);
    }

    /// <summary>Whether both images hold identical register values.</summary>
    /// <param name="other">The other image.</param>
    /// <returns><see langword="true"/> when every address and configuration byte matches.</returns>
    public bool ContentEquals(PmpImage other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return other.Xlen == Xlen && _addresses.AsSpan().SequenceEqual(other._addresses) && _configs.AsSpan().SequenceEqual(other._configs);
    }

    internal Span<ulong> Addresses => _addresses;

    internal Span<PmpConfigBits> Configs => _configs;

    /// <summary>A multi-line dump: one line per active entry, e.g. <c>pmp3 NAPOT R-X 0x20004fff [0x80010000, 0x80014000)</c>.</summary>
    /// <returns>The dump.</returns>
    public override string ToString()
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < EntryCount; i++)
        {
            PmpConfigBits c = _configs[i];
            PmpAddressMatching a = PmpEncoding.GetMatching(c);
            if (a == PmpAddressMatching.Off && (i + 1 >= EntryCount || PmpEncoding.GetMatching(_configs[i + 1]) != PmpAddressMatching.Tor))
            {
                continue;
            }

            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"pmp{i} {a,-5} {((c & PmpConfigBits.Locked) != 0 ? 'L' : '-')}{((c & PmpConfigBits.Read) != 0 ? 'R' : '-')}{((c & PmpConfigBits.Write) != 0 ? 'W' : '-')}{((c & PmpConfigBits.Execute) != 0 ? 'X' : '-')} 0x{_addresses[i]:x}");
            sb.AppendLine();
        }

        return sb.ToString();
    }
}
