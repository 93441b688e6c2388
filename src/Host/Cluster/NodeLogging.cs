using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace CadStream.Host.Cluster;

/// <summary>
/// The one logging path of a node: everything (our parts, ASP.NET, Akka's log through its
/// ILoggerFactory bridge, librdkafka through the consumer) goes through ILogger to one provider: the
/// console (one line per entry, on stderr) unless a host gives its own. Our own categories log from
/// Information up (starts, resumes, restarts); the frameworks' from Warning up.
/// </summary>
public static class NodeLogging
{
    public static void Configure(ILoggingBuilder logging, ILoggerProvider? provider)
    {
        logging.ClearProviders();
        if (provider is not null) logging.AddProvider(new Shared(provider));
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss ";
            });
            // Standard output stays for a command's results; log lines go to stderr.
            logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        }
        logging.SetMinimumLevel(LogLevel.Warning);
        logging.AddFilter("CadStream", LogLevel.Information);
    }

    /// <summary>A provider used by several factories: none of them disposes it.</summary>
    sealed class Shared(ILoggerProvider inner) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => inner.CreateLogger(categoryName);
        public void Dispose() { }
    }
}

/// <summary>Log entries as single lines to a writer (a test's output, say): "level: Category: message".</summary>
public sealed class LineLoggerProvider(Action<string> write) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new LineLogger(categoryName.Split('.').Last(), write);
    public void Dispose() { }

    sealed class LineLogger(string category, Action<string> write) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) write($"{logLevel.ToString().ToLowerInvariant()}: {category}: {formatter(state, exception)}");
        }
    }
}
