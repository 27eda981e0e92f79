using System.Buffers.Binary;

namespace Pipeline.Core.Datasets;

/// <summary>
/// The binary image shard shared by ingestion (writer) and training (reader): fixed-size uint8 images, channel-first.
/// Labels are never stored here; labelled data lives apart (labeled/{dataset}/) and is never read by pretraining.
/// <code>
/// header (32 bytes): magic "PLIMGSH1" | uint32 version (1) | uint32 channels | uint32 height | uint32 width | int64 count
/// body:              count x channels x height x width bytes
/// </code>
/// </summary>
public static class ImageShard
{
    public const int HeaderSize = 32;
    public const int Version = 1;
    private static readonly byte[] Magic = "PLIMGSH1"u8.ToArray();

    public static void WriteHeader(Stream output, int channels, int height, int width, long count)
    {
        var header = new byte[HeaderSize];
        Magic.CopyTo(header, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), (uint)channels);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), (uint)height);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), (uint)width);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(24), count);
        output.Write(header);
    }

    /// <summary>Writes a complete shard of images, each exactly channels x height x width bytes (CHW).</summary>
    public static void Write(Stream output, int channels, int height, int width, IReadOnlyList<byte[]> images)
    {
        var size = channels * height * width;
        WriteHeader(output, channels, height, width, images.Count);
        foreach (var image in images)
        {
            if (image.Length != size)
            {
                throw new ArgumentException($"Image has {image.Length} bytes; a {channels}x{height}x{width} shard needs {size}.");
            }

            output.Write(image);
        }
    }

    public static ImageShardData Read(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < HeaderSize || !bytes[..8].SequenceEqual(Magic))
        {
            throw new InvalidDataException("Not an image shard (bad magic); expected 'PLIMGSH1'.");
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]);
        if (version != Version)
        {
            throw new InvalidDataException($"Image shard version {version} is not supported (expected {Version}).");
        }

        var c = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes[12..]);
        var h = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes[16..]);
        var w = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes[20..]);
        var n = BinaryPrimitives.ReadInt64LittleEndian(bytes[24..]);
        var expected = HeaderSize + (n * c * h * w);
        if (c is not (1 or 3) || h <= 0 || w <= 0 || n < 0 || bytes.Length != expected)
        {
            throw new InvalidDataException($"Image shard is corrupt or truncated ({bytes.Length} bytes, header implies {expected}).");
        }

        return new ImageShardData(c, h, w, (int)n, bytes[HeaderSize..].ToArray());
    }
}

/// <summary>A decoded image shard: Count images of Channels x Height x Width bytes, contiguous, channel-first.</summary>
public sealed record ImageShardData(int Channels, int Height, int Width, int Count, byte[] Pixels)
{
    public int ImageSize => Channels * Height * Width;

    public ReadOnlySpan<byte> Image(int index) => Pixels.AsSpan(index * ImageSize, ImageSize);
}
