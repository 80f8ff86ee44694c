// SPDX-License-Identifier: Apache-2.0
using System;
using Microsoft.Extensions.Logging;

namespace ConfidentialSaas;

/// <summary>A minimal logger provider: Information and above to standard output as <c>log: message</c>.</summary>
internal sealed class ConsoleLog : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger();

    public void Dispose()
    {
    }

    private sealed class Logger : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                Console.WriteLine($"  log: {formatter(state, exception)}");
            }
        }
    }
}
