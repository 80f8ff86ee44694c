// SPDX-License-Identifier: Apache-2.0
using System;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading;

namespace Tyche.Integration.Tests.Infrastructure;

/// <summary>A private swtpm on free TCP ports with a fresh state directory (no EK manufacturing: the tests pin the AK).</summary>
internal sealed class SwtpmProcess : IDisposable
{
    private readonly Process _process;
    private readonly DirectoryInfo _state;

    private SwtpmProcess(Process process, DirectoryInfo state, int port)
    {
        _process = process;
        _state = state;
        Port = port;
    }

    public int Port { get; }

    public static SwtpmProcess Start()
    {
        DirectoryInfo state = Directory.CreateTempSubdirectory("tyche-it-swtpm-");
        for (int attempt = 0; attempt < 10; attempt++)
        {
            int port = FreePort();
            int control = FreePort();
            ProcessStartInfo info = new("swtpm") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (string a in new[]
                     {
                         "socket", "--tpm2", "--server", $"type=tcp,port={port},bindaddr=127.0.0.1", "--ctrl",
                         $"type=tcp,port={control},bindaddr=127.0.0.1", "--tpmstate", $"dir={state.FullName}", "--flags", "not-need-init,startup-clear",
                     })
            {
                info.ArgumentList.Add(a);
            }

            Process process = Process.Start(info)!;
            for (int i = 0; i < 100 && !process.HasExited; i++)
            {
                try
                {
                    using TcpClient client = new();
                    client.Connect(IPAddress.Loopback, port);
                    return new SwtpmProcess(process, state, port);
                }
                catch (SocketException)
                {
                    Thread.Sleep(50);
                }
            }

            if (!process.HasExited)
            {
                process.Kill();
            }

            process.Dispose();
        }

        throw new InvalidOperationException("swtpm did not start listening on any free port.");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }

        _process.Dispose();
        try
        {
            _state.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A lock file can linger for a moment; a leftover temporary folder is harmless.
        }
    }

    private static int FreePort()
    {
        using TcpListener listener = new(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
