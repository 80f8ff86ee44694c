// SPDX-License-Identifier: Apache-2.0
using System;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading;

namespace ConfidentialSaas;

/// <summary>Starts a private swtpm (TPM 2.0 emulator) on a free TCP port with a fresh state directory, and stops it.</summary>
internal sealed class Swtpm : IDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private Swtpm(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    /// <summary>The TPM command port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>Starts swtpm when it is installed.</summary>
    /// <param name="swtpm">The running emulator.</param>
    /// <param name="why">Why it could not start.</param>
    /// <returns><see langword="false"/> when swtpm is not installed or did not start.</returns>
    public static bool TryStart(out Swtpm? swtpm, out string why)
    {
        swtpm = null;
        string? path = Find("swtpm");
        if (path is null)
        {
            why = "swtpm is not installed (apt-get install swtpm)";
            return false;
        }

        string directory = Directory.CreateTempSubdirectory("tyche-saas-swtpm-").FullName;
        for (int attempt = 0; attempt < 10; attempt++)
        {
            int port = FreePort();
            int control = FreePort();
            ProcessStartInfo info = new(path)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (string argument in new[]
                     {
                         "socket", "--tpm2", "--server", $"type=tcp,port={port},bindaddr=127.0.0.1",
                         "--ctrl", $"type=tcp,port={control},bindaddr=127.0.0.1", "--tpmstate", $"dir={directory}",
                         "--flags", "not-need-init,startup-clear",
                     })
            {
                info.ArgumentList.Add(argument);
            }

            Process process = Process.Start(info) ?? throw new InvalidOperationException("Could not start swtpm.");
            if (WaitListening(port, process))
            {
                swtpm = new Swtpm(process, directory, port);
                why = string.Empty;
                return true;
            }

            if (!process.HasExited)
            {
                process.Kill();
            }

            process.Dispose();
        }

        Directory.Delete(directory, recursive: true);
        why = "swtpm did not start listening";
        return false;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        finally
        {
            _process.Dispose();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // swtpm may still hold a lock file for a moment; a stale temporary folder is harmless.
            }
        }
    }

    private static string? Find(string tool)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static int FreePort()
    {
        using TcpListener listener = new(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool WaitListening(int port, Process process)
    {
        for (int i = 0; i < 100; i++)
        {
            if (process.HasExited)
            {
                return false;
            }

            try
            {
                using TcpClient client = new();
                client.Connect(IPAddress.Loopback, port);
                return true;
            }
            catch (SocketException)
            {
                Thread.Sleep(50);
            }
        }

        return false;
    }
}
