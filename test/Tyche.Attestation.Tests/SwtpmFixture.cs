// SPDX-License-Identifier: Apache-2.0
using System;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using Tyche.Attestation.Tpm;

namespace Tyche.Attestation.Tests;

/// <summary>
/// Starts a fresh swtpm for one test class: a new state directory manufactured by swtpm_setup with an RSA EK, its
/// certificate (issued by a local CA created for this fixture) and a platform certificate; a free port pair; and on
/// dispose an orderly CMD_SHUTDOWN on the control port, a kill if needed, and removal of the directory.
/// </summary>
public sealed class SwtpmFixture : IDisposable
{
    // swtpm control channel (swtpm_ioctl protocol, tpm_ioctl.h): CMD_SHUTDOWN.
    private const uint ControlShutdown = 3;
    // swtpm control channel: CMD_INIT (simulated power cycle / TPM_Init).
    private const uint ControlInit = 2;

    private readonly Process? _process;

    public SwtpmFixture() : this(manufacture: true)
    {
    }

    /// <summary>Starts swtpm; <paramref name="manufacture"/> runs swtpm_setup (EK, certificates) first.</summary>
    internal SwtpmFixture(bool manufacture)
    {
        if (!ExternalTools.Require("swtpm", "swtpm_setup", "swtpm_localca"))
        {
            Available = false;
            return;
        }

        Available = true;
        try
        {
            Directory = Path.Combine(Path.GetTempPath(), "tyche-swtpm-" + Guid.NewGuid().ToString("N")[..12]);
            string state = Path.Combine(Directory, "state");
            string ca = Path.Combine(Directory, "ca");
            System.IO.Directory.CreateDirectory(state);
            System.IO.Directory.CreateDirectory(ca);
            File.WriteAllText(Path.Combine(Directory, "localca.conf"),
                $"statedir = {ca}\nsigningkey = {ca}/signkey.pem\nissuercert = {ca}/issuercert.pem\ncertserial = {ca}/certserial\n");
            File.WriteAllText(Path.Combine(Directory, "localca.options"), "--platform-manufacturer Tyche\n--platform-version 2.1\n--platform-model Test\n");
            File.WriteAllText(Path.Combine(Directory, "setup.conf"),
                $"create_certs_tool = {ExternalTools.Find("swtpm_localca")}\ncreate_certs_tool_config = {Directory}/localca.conf\ncreate_certs_tool_options = {Directory}/localca.options\nactive_pcr_banks = sha256\n");
            if (manufacture)
            {
                (int rc, string output) = ExternalTools.Run("swtpm_setup",
                    $"--tpm2 --tpmstate {state} --create-ek-cert --create-platform-cert --config {Directory}/setup.conf --overwrite");
                if (rc != 0) throw new InvalidOperationException("swtpm_setup failed: " + output);
            }

            CaRootCertificatePath = Path.Combine(ca, "swtpm-localca-rootca-cert.pem");
            CaIssuerCertificatePath = Path.Combine(ca, "issuercert.pem");

            for (int attempt = 0; attempt < 20 && _process is null; attempt++)
            {
                (int port, int ctrl) = FreePortPair();
                var psi = new ProcessStartInfo(ExternalTools.Find("swtpm")!,
                    $"socket --tpm2 --server type=tcp,port={port},bindaddr=127.0.0.1 --ctrl type=tcp,port={ctrl},bindaddr=127.0.0.1 " +
                    $"--tpmstate dir={state} --flags not-need-init,startup-clear --log file={Directory}/swtpm.log")
                {
                    UseShellExecute = false,
                    RedirectStandardError = true,
                    RedirectStandardOutput = true,
                };
                Process p = Process.Start(psi)!;
                if (WaitListening(port, p))
                {
                    _process = p;
                    Port = port;
                    ControlPort = ctrl;
                }
                else
                {
                    if (!p.HasExited) p.Kill();
                    p.Dispose();
                }
            }

            if (_process is null) throw new InvalidOperationException("swtpm did not start on any free port pair");
        }
        catch
        {
            // xUnit does not dispose a fixture whose constructor threw: remove the state directory here.
            if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Delete(Directory, recursive: true);
            throw;
        }
    }

    public bool Available { get; }

    public string Directory { get; } = string.Empty;

    public int Port { get; }

    public int ControlPort { get; }

    public string CaRootCertificatePath { get; } = string.Empty;

    public string CaIssuerCertificatePath { get; } = string.Empty;

    /// <summary>The tpm2-tools TCTI string for this swtpm.</summary>
    public string Tcti => $"swtpm:host=127.0.0.1,port={Port}";

    public Tpm2 Connect(TpmStreamFraming framing = TpmStreamFraming.Raw)
    {
        var tpm = new Tpm2(StreamTpmTransport.ConnectTcp("127.0.0.1", Port, framing));
        tpm.Startup();
        return tpm;
    }

    /// <summary>Simulated power cycle through the swtpm control channel (CMD_INIT, tpm_ioctl.h), then TPM2_Startup.</summary>
    public void PowerCycle()
    {
        using var c = new TcpClient();
        c.Connect(IPAddress.Loopback, ControlPort);
        Span<byte> cmd = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(cmd, ControlInit);
        BinaryPrimitives.WriteUInt32BigEndian(cmd[4..], 0); // init flags 0: do not keep volatile state (a real power cycle)
        c.GetStream().Write(cmd);
        Span<byte> result = stackalloc byte[4];
        c.GetStream().ReadExactly(result);
        if (BinaryPrimitives.ReadUInt32BigEndian(result) != 0) throw new InvalidOperationException("swtpm CMD_INIT failed");
    }

    public X509Certificate2 LoadRoot() => X509CertificateLoader.LoadCertificateFromFile(CaRootCertificatePath);

    public X509Certificate2 LoadIssuer() => X509CertificateLoader.LoadCertificateFromFile(CaIssuerCertificatePath);

    private static (int Port, int Control) FreePortPair()
    {
        // Linux hands out odd ports for bind(0), so pick random even ports below the ephemeral range instead.
        for (int i = 0; i < 200; i++)
        {
            int port = 20000 + 2 * Random.Shared.Next(0, 6000);
            if (IsFree(port) && IsFree(port + 1)) return (port, port + 1);
        }

        throw new InvalidOperationException("no free port pair");
    }

    private static bool IsFree(int port)
    {
        try
        {
            var l = new TcpListener(IPAddress.Loopback, port);
            l.Start();
            l.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static bool WaitListening(int port, Process p)
    {
        for (int i = 0; i < 100; i++)
        {
            if (p.HasExited) return false;
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, port);
                return true;
            }
            catch (SocketException)
            {
                Thread.Sleep(20);
            }
        }

        return false;
    }

    public void Dispose()
    {
        if (_process is not null)
        {
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, ControlPort);
                Span<byte> cmd = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32BigEndian(cmd, ControlShutdown);
                c.GetStream().Write(cmd);
                c.GetStream().ReadExactly(cmd);
            }
            catch (IOException)
            {
            }
            catch (SocketException)
            {
            }

            if (!_process.WaitForExit(5000)) _process.Kill();
            _process.Dispose();
        }

        if (Available && System.IO.Directory.Exists(Directory))
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>A second, independent swtpm (no EK certificate) for "another TPM" tests.</summary>
public sealed class SecondSwtpmFixture : IDisposable
{
    public SecondSwtpmFixture() => Tpm = new SwtpmFixture(manufacture: true);

    public SwtpmFixture Tpm { get; }

    public bool Available => Tpm.Available;

    public void Dispose() => Tpm.Dispose();
}
