// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.Json;
using Tyche.Capabilities;

namespace Tyche.Attestation.Verification;

/// <summary>A memory range a domain may share, and with whom (policy <c>allowedSharing</c> entry).</summary>
/// <param name="Start">First address.</param>
/// <param name="End">Address after the last.</param>
/// <param name="Partners">Domain ids allowed to access the range too.</param>
public sealed record SharingRule(ulong Start, ulong End, ulong[] Partners);

/// <summary>Requirements on one domain (policy <c>domains[]</c> entry); null members are not checked.</summary>
public sealed record DomainPolicy
{
    /// <summary>The monitor's domain id the entry is about.</summary>
    public required ulong Id { get; init; }
    /// <summary>A human name used in check results.</summary>
    public string Name { get; init; } = string.Empty;
    /// <summary>Required sealed state.</summary>
    public bool? Sealed { get; init; }
    /// <summary>Expected measurement (32 bytes).</summary>
    public byte[]? Measurement { get; init; }
    /// <summary>When true, every range with a reference count above 1 must be covered by <see cref="AllowedSharing"/>.</summary>
    public bool ExclusiveMemory { get; init; }
    /// <summary>Ranges that may be shared, each with its allowed partners.</summary>
    public IReadOnlyList<SharingRule> AllowedSharing { get; init; } = [];
    /// <summary>Cores that must be exclusive to the domain.</summary>
    public IReadOnlyList<int> ExclusiveCores { get; init; } = [];
    /// <summary>Devices the domain must own.</summary>
    public IReadOnlyList<DeviceId> Devices { get; init; } = [];
    /// <summary>When true, the domain must own no device beyond <see cref="Devices"/>.</summary>
    public bool OnlyListedDevices { get; init; }
}

/// <summary>
/// A verifier policy, read from the JSON format documented in docs/policy.md. Unknown properties are errors, so a
/// misspelt clause never silently weakens a policy.
/// </summary>
public sealed record AttestationPolicy
{
    /// <summary>The PCR the monitor is measured into.</summary>
    public int MonitorPcr { get; init; } = Tpm.MeasuredLaunch.DefaultPcr;
    /// <summary>Accepted monitor image digests (reference values).</summary>
    public required IReadOnlyList<byte[]> MonitorImageDigests { get; init; }
    /// <summary>Per-domain requirements.</summary>
    public IReadOnlyList<DomainPolicy> Domains { get; init; } = [];

    /// <summary>Parses the JSON policy. Returns false with a precise error for malformed or unknown content.</summary>
    public static bool TryParse(string json, out AttestationPolicy? policy, out string error)
    {
        policy = null;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return Error("the policy must be a JSON object", out error);
            int version = 0, pcr = Tpm.MeasuredLaunch.DefaultPcr;
            var digests = new List<byte[]>();
            var domains = new List<DomainPolicy>();
            foreach (JsonProperty p in root.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "version": version = p.Value.GetInt32(); break;
                    case "monitorPcr": pcr = p.Value.GetInt32(); break;
                    case "monitorImageDigests":
                        foreach (JsonElement d in p.Value.EnumerateArray())
                        {
                            if (!TryHex(d.GetString(), 32, out byte[]? digest)) return Error($"monitorImageDigests: '{d}' is not 64 hex digits", out error);
                            digests.Add(digest!);
                        }

                        break;
                    case "domains":
                        foreach (JsonElement d in p.Value.EnumerateArray())
                        {
                            if (!TryParseDomain(d, out DomainPolicy? dp, out error)) return false;
                            domains.Add(dp!);
                        }

                        break;
                    default: return Error($"unknown property '{p.Name}'", out error);
                }
            }

            if (version != 1) return Error("'version' must be 1", out error);
            if ((uint)pcr >= 24) return Error("'monitorPcr' must be 0..23", out error);
            if (digests.Count == 0) return Error("'monitorImageDigests' must list at least one digest", out error);
            policy = new AttestationPolicy { MonitorPcr = pcr, MonitorImageDigests = digests, Domains = domains };
            error = string.Empty;
            return true;
        }
        catch (JsonException ex)
        {
            return Error("invalid JSON: " + ex.Message, out error);
        }
        catch (InvalidOperationException ex)
        {
            return Error("wrong JSON type: " + ex.Message, out error);
        }
        catch (FormatException ex)
        {
            return Error("invalid number: " + ex.Message, out error);
        }
    }

    private static bool TryParseDomain(JsonElement e, out DomainPolicy? policy, out string error)
    {
        policy = null;
        if (e.ValueKind != JsonValueKind.Object) return Error("each domains[] entry must be an object", out error);
        ulong? id = null;
        string name = string.Empty;
        bool? sealedFlag = null;
        byte[]? measurement = null;
        bool exclusive = false, onlyListed = false;
        var sharing = new List<SharingRule>();
        var cores = new List<int>();
        var devices = new List<DeviceId>();
        foreach (JsonProperty p in e.EnumerateObject())
        {
            switch (p.Name)
            {
                case "id": id = p.Value.GetUInt64(); break;
                case "name": name = p.Value.GetString() ?? string.Empty; break;
                case "sealed": sealedFlag = p.Value.GetBoolean(); break;
                case "measurement":
                    if (!TryHex(p.Value.GetString(), 32, out measurement)) return Error("measurement must be 64 hex digits", out error);
                    break;
                case "exclusiveMemory": exclusive = p.Value.GetBoolean(); break;
                case "onlyListedDevices": onlyListed = p.Value.GetBoolean(); break;
                case "allowedSharing":
                    foreach (JsonElement s in p.Value.EnumerateArray())
                    {
                        if (!TryParseSharing(s, out SharingRule? rule, out error)) return false;
                        sharing.Add(rule!);
                    }

                    break;
                case "exclusiveCores":
                    foreach (JsonElement c in p.Value.EnumerateArray())
                    {
                        int core = c.GetInt32();
                        if ((uint)core >= 64) return Error($"core {core} is outside 0..63", out error);
                        cores.Add(core);
                    }

                    break;
                case "devices":
                    foreach (JsonElement d in p.Value.EnumerateArray())
                    {
                        if (!DeviceId.TryParse(d.GetString(), out DeviceId dev)) return Error($"'{d}' is not a PCI function like 0000:00:02.0", out error);
                        devices.Add(dev);
                    }

                    break;
                default: return Error($"unknown domain property '{p.Name}'", out error);
            }
        }

        if (id is null) return Error("a domains[] entry needs an 'id'", out error);
        policy = new DomainPolicy
        {
            Id = id.Value, Name = name, Sealed = sealedFlag, Measurement = measurement, ExclusiveMemory = exclusive,
            AllowedSharing = sharing, ExclusiveCores = cores, Devices = devices, OnlyListedDevices = onlyListed,
        };
        error = string.Empty;
        return true;
    }

    private static bool TryParseSharing(JsonElement e, out SharingRule? rule, out string error)
    {
        rule = null;
        ulong? start = null, end = null;
        var partners = new List<ulong>();
        foreach (JsonProperty p in e.EnumerateObject())
        {
            switch (p.Name)
            {
                case "start": start = ParseAddress(p.Value); break;
                case "end": end = ParseAddress(p.Value); break;
                case "partners":
                    foreach (JsonElement x in p.Value.EnumerateArray()) partners.Add(x.GetUInt64());
                    break;
                default: return Error($"unknown allowedSharing property '{p.Name}'", out error);
            }
        }

        if (start is null || end is null || end <= start) return Error("allowedSharing entries need start < end", out error);
        rule = new SharingRule(start.Value, end.Value, partners.ToArray());
        error = string.Empty;
        return true;
    }

    private static ulong? ParseAddress(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Number) return e.GetUInt64();
        string? s = e.GetString();
        if (s is not null && s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) &&
            ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v))
        {
            return v;
        }

        throw new FormatException($"'{s}' is not a number or 0x-prefixed hex address");
    }

    private static bool TryHex(string? s, int length, out byte[]? value)
    {
        value = null;
        if (s is null || s.Length != 2 * length) return false;
        try
        {
            value = Convert.FromHexString(s);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static bool Error(string message, out string error)
    {
        error = message;
        return false;
    }
}
