using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace CadStream.Snapshots;

/// <summary>
/// Signs and checks snapshot records with HMAC-SHA256 under <c>Snapshots:SigningKey</c> (docs/security.md, "Snapshots").
/// The signature covers the model id, the version, the blob's SHA-256 and its length: a fetch checks the bytes against
/// that SHA-256, so a valid signature vouches for the bytes, and a record can be checked before any byte is read.
/// Whoever can write to the store but lacks the key can neither forge a snapshot nor move one to another model or version.
/// </summary>
public sealed class SnapshotSigner
{
    /// <summary>Shortest key accepted: 16 bytes (HMAC-SHA256 keys should carry at least 128 bits).</summary>
    public const int MinKeyBytes = 16;

    private readonly byte[] key;
    private readonly byte[]? previousKey;

    /// <param name="key">Signs and verifies.</param>
    /// <param name="previousKey">Only verifies: the key being rotated out, so snapshots signed before the change still resume and serve.</param>
    public SnapshotSigner(string key, string? previousKey = null)
    {
        this.key = KeyBytes(key, "Snapshots:SigningKey");
        this.previousKey = string.IsNullOrEmpty(previousKey) ? null : KeyBytes(previousKey, "Snapshots:PreviousSigningKey");
    }

    static byte[] KeyBytes(string key, string setting)
    {
        ArgumentNullException.ThrowIfNull(key);
        var bytes = Encoding.UTF8.GetBytes(key);
        if (bytes.Length < MinKeyBytes)
            throw new ArgumentException($"{setting} must be at least {MinKeyBytes} bytes (got {bytes.Length}); make one with `openssl rand -hex 32` or any 32 random bytes");
        return bytes;
    }

    /// <summary>A signer for a configured key, or null when none is set (snapshots then go unsigned and unchecked).</summary>
    public static SnapshotSigner? For(string? key, string? previousKey = null) =>
        string.IsNullOrEmpty(key) ? null : new SnapshotSigner(key, previousKey);

    public string Sign(string modelId, SnapshotInfo record) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(key, Message(modelId, record)));

    /// <summary>The record with its signature filled in.</summary>
    public SnapshotInfo Signed(string modelId, SnapshotInfo record) => record with { Signature = Sign(modelId, record) };

    /// <summary>Throws <see cref="SnapshotRejectedException"/> (reason <c>unsigned</c> or <c>signature</c>) unless the record carries this key's signature.</summary>
    public void Verify(string modelId, SnapshotInfo record)
    {
        if (string.IsNullOrEmpty(record.Signature))
            throw new SnapshotRejectedException($"snapshot {modelId} v{record.Version} is not signed and Snapshots:SigningKey is set", "unsigned");
        byte[] given;
        try { given = Convert.FromHexString(record.Signature); }
        catch (FormatException) { given = []; }
        var message = Message(modelId, record);
        bool Made(byte[] k) => CryptographicOperations.FixedTimeEquals(given, HMACSHA256.HashData(k, message));
        if (!Made(key) && !(previousKey is not null && Made(previousKey)))
            throw new SnapshotRejectedException($"snapshot {modelId} v{record.Version} has a signature that Snapshots:SigningKey did not make", "signature");
    }

    static byte[] Message(string modelId, SnapshotInfo r) => Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
        $"cadstream-snapshot-v1\n{modelId}\n{r.Version}\n{r.Sha256.ToLowerInvariant()}\n{r.Bytes}"));
}
