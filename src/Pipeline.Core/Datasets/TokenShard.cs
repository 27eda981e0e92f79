using System.Buffers.Binary;
using System.Text;

namespace Pipeline.Core.Datasets;

/// <summary>
/// The binary text shard shared by ingestion (writer) and training (reader): token ids of whole documents, without
/// [CLS]/[SEP] (the trainer frames sequences), and the document boundaries.
/// <code>
/// header (32 bytes): magic "PLTOKSH1" | uint32 version (1) | uint32 bytes per token (2 or 4) | int64 tokens | int64 documents
/// body:              tokens x little-endian uint16/uint32 ids
/// offsets:           (documents + 1) x int64: token index where each document starts; the last equals tokens
/// </code>
/// </summary>
public static class TokenShard
{
    public const int HeaderSize = 32;
    public const int Version = 1;
    private static readonly byte[] Magic = "PLTOKSH1"u8.ToArray();

    /// <summary>Bytes per id for a vocabulary: uint16 up to 65,536 tokens, else uint32.</summary>
    public static int BytesPerToken(int vocabSize) => vocabSize <= ushort.MaxValue + 1 ? 2 : 4;

    /// <summary>
    /// Writes a shard from one flat id buffer and the end offset of each document in it (no per-document arrays);
    /// the same bytes as the per-document overload.
    /// </summary>
    public static void Write(Stream output, ReadOnlySpan<int> ids, ReadOnlySpan<long> documentEnds, int vocabSize)
    {
        long previous = 0;
        foreach (var end in documentEnds)
        {
            if (end < previous || end > ids.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(documentEnds), "Document ends must be ascending and within the ids.");
            }

            previous = end;
        }

        if (previous != ids.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(documentEnds), "The last document must end at the last id.");
        }

        var writer = new IdWriter(output, vocabSize, ids.Length, documentEnds.Length);
        writer.Append(ids, nameof(ids));
        writer.Finish();
        Span<byte> eight = stackalloc byte[8];
        WriteInt64(output, eight, 0);
        foreach (var end in documentEnds)
        {
            WriteInt64(output, eight, end);
        }
    }

    /// <summary>Writes a complete shard. Documents must be non-empty id sequences below the vocabulary size.</summary>
    public static void Write(Stream output, IReadOnlyList<int[]> documents, int vocabSize)
    {
        var writer = new IdWriter(output, vocabSize, documents.Sum(d => (long)d.Length), documents.Count);
        foreach (var doc in documents)
        {
            writer.Append(doc, nameof(documents));
        }

        writer.Finish();
        Span<byte> eight = stackalloc byte[8];
        long offset = 0;
        foreach (var doc in documents)
        {
            WriteInt64(output, eight, offset);
            offset += doc.Length;
        }

        WriteInt64(output, eight, offset);
    }

    private static void WriteInt64(Stream output, Span<byte> eight, long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(eight, value);
        output.Write(eight);
    }

    /// <summary>The header, then the ids packed at the vocabulary's width through one 64 KiB buffer.</summary>
    private sealed class IdWriter
    {
        private readonly Stream _output;
        private readonly int _vocabSize;
        private readonly int _width;
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _used;

        public IdWriter(Stream output, int vocabSize, long tokens, long documents)
        {
            _output = output;
            _vocabSize = vocabSize;
            _width = BytesPerToken(vocabSize);
            var header = new byte[HeaderSize];
            Magic.CopyTo(header, 0);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), Version);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), (uint)_width);
            BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(16), tokens);
            BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(24), documents);
            output.Write(header);
        }

        public void Append(ReadOnlySpan<int> ids, string paramName)
        {
            foreach (var id in ids)
            {
                if ((uint)id >= (uint)_vocabSize)
                {
                    throw new ArgumentOutOfRangeException(paramName, $"Token id {id} is outside the vocabulary of {_vocabSize}.");
                }

                if (_used + _width > _buffer.Length)
                {
                    _output.Write(_buffer, 0, _used);
                    _used = 0;
                }

                if (_width == 2)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(_used), (ushort)id);
                }
                else
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(_used), (uint)id);
                }

                _used += _width;
            }
        }

        public void Finish() => _output.Write(_buffer, 0, _used);
    }

    /// <summary>Reads a whole shard (shards are bounded in size by the ingestion options).</summary>
    public static TokenShardData Read(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < HeaderSize || !bytes[..8].SequenceEqual(Magic))
        {
            throw new InvalidDataException("Not a token shard (bad magic); expected 'PLTOKSH1'.");
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]);
        if (version != Version)
        {
            throw new InvalidDataException($"Token shard version {version} is not supported (expected {Version}).");
        }

        var width = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes[12..]);
        var tokens = BinaryPrimitives.ReadInt64LittleEndian(bytes[16..]);
        var docs = BinaryPrimitives.ReadInt64LittleEndian(bytes[24..]);
        if (width is not (2 or 4) || tokens < 0 || docs < 0)
        {
            throw new InvalidDataException("Token shard header is corrupt.");
        }

        var expected = HeaderSize + (tokens * width) + ((docs + 1) * 8);
        if (bytes.Length != expected)
        {
            throw new InvalidDataException($"Token shard is {bytes.Length} bytes; its header implies {expected} (truncated or corrupt).");
        }

        var ids = new int[tokens];
        var body = bytes.Slice(HeaderSize, (int)(tokens * width));
        for (var i = 0; i < tokens; i++)
        {
            ids[i] = width == 2
                ? BinaryPrimitives.ReadUInt16LittleEndian(body[(i * 2)..])
                : (int)BinaryPrimitives.ReadUInt32LittleEndian(body[(i * 4)..]);
        }

        var offsetsSpan = bytes[(HeaderSize + (int)(tokens * width))..];
        var offsets = new long[docs + 1];
        for (var i = 0; i <= docs; i++)
        {
            offsets[i] = BinaryPrimitives.ReadInt64LittleEndian(offsetsSpan[(i * 8)..]);
        }

        if (offsets[0] != 0 || offsets[^1] != tokens)
        {
            throw new InvalidDataException("Token shard document offsets are corrupt.");
        }

        return new TokenShardData(ids, offsets);
    }
}

/// <summary>A decoded token shard: all ids and the document start offsets (length documents + 1).</summary>
public sealed record TokenShardData(int[] Ids, long[] Offsets)
{
    public int DocumentCount => Offsets.Length - 1;

    public ReadOnlySpan<int> Document(int index) => Ids.AsSpan((int)Offsets[index], (int)(Offsets[index + 1] - Offsets[index]));
}
