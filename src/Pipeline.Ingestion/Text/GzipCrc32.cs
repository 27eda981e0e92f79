namespace Pipeline.Ingestion.Text;

/// <summary>
/// CRC-32 (IEEE 802.3, as in the gzip trailer). .NET's GZipStream neither checks the trailer nor reports a truncated
/// stream, so the reader verifies CRC-32 and size itself; otherwise a cut-off upload would be ingested as if whole.
/// </summary>
internal static class GzipCrc32
{
    private static readonly uint[] Table = CreateTable();

    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        crc = ~crc;
        foreach (var b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static uint[] CreateTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }
}
