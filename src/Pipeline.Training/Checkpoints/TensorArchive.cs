using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Checkpoints;

/// <summary>
/// A plain, bit-exact file of named tensors (model state, optimizer moments, RNG state) for checkpoints:
/// <code>magic "PLTENS01" | int32 count | per tensor: string name | int32 dtype | int32 rank | int64[rank] shape | int64 bytes | raw little-endian data</code>
/// Float32, Float64, Int64 and UInt8 tensors are supported; anything else is an error that names the tensor.
/// </summary>
public static class TensorArchive
{
    private static readonly byte[] Magic = "PLTENS01"u8.ToArray();

    public static void Write(string path, IEnumerable<(string Name, Tensor Tensor)> tensors)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var writer = new BinaryWriter(stream, Encoding.UTF8);
        var list = tensors.ToList();
        writer.Write(Magic);
        writer.Write(list.Count);
        foreach (var (name, tensor) in list)
        {
            using var cpu = tensor.detach().cpu().contiguous();
            writer.Write(name);
            writer.Write((int)cpu.dtype);
            writer.Write(cpu.shape.Length);
            foreach (var d in cpu.shape)
            {
                writer.Write(d);
            }

            var bytes = cpu.dtype switch
            {
                ScalarType.Float32 => ToBytes(cpu.data<float>().ToArray()),
                ScalarType.Float64 => ToBytes(cpu.data<double>().ToArray()),
                ScalarType.Int64 => ToBytes(cpu.data<long>().ToArray()),
                ScalarType.Byte => cpu.data<byte>().ToArray(),
                _ => throw new NotSupportedException($"Tensor '{name}' has dtype {cpu.dtype}; checkpoints store Float32, Float64, Int64 and Byte."),
            };
            writer.Write((long)bytes.Length);
            writer.Write(bytes);
        }
    }

    /// <summary>Reads every tensor onto the CPU.</summary>
    public static Dictionary<string, Tensor> Read(string path)
    {
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream, Encoding.UTF8);
        if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
        {
            throw new InvalidDataException($"{path} is not a tensor archive (bad magic).");
        }

        var count = reader.ReadInt32();
        var result = new Dictionary<string, Tensor>(count);
        for (var i = 0; i < count; i++)
        {
            var name = reader.ReadString();
            var dtype = (ScalarType)reader.ReadInt32();
            var rank = reader.ReadInt32();
            var shape = new long[rank];
            for (var d = 0; d < rank; d++)
            {
                shape[d] = reader.ReadInt64();
            }

            var length = reader.ReadInt64();
            var bytes = reader.ReadBytes(checked((int)length));
            result[name] = dtype switch
            {
                ScalarType.Float32 => torch.tensor(FromBytes<float>(bytes), shape),
                ScalarType.Float64 => torch.tensor(FromBytes<double>(bytes), shape),
                ScalarType.Int64 => torch.tensor(FromBytes<long>(bytes), shape),
                ScalarType.Byte => torch.tensor(bytes, shape),
                _ => throw new InvalidDataException($"Tensor '{name}' in {path} has unsupported dtype {dtype}."),
            };
        }

        return result;
    }

    /// <summary>Writes a module's parameters and buffers (its state_dict).</summary>
    public static void WriteModule(string path, nn.Module module) =>
        Write(path, module.state_dict().Select(kv => (kv.Key, kv.Value)));

    /// <summary>Copies saved values into a module's parameters and buffers; names and shapes must match exactly.</summary>
    public static void ReadModule(string path, nn.Module module)
    {
        var saved = Read(path);
        try
        {
            using var noGrad = torch.no_grad();
            var state = module.state_dict();
            var missing = state.Keys.Except(saved.Keys).ToList();
            if (missing.Count > 0)
            {
                throw new InvalidDataException($"{path} lacks {string.Join(", ", missing)}; was it saved from another architecture?");
            }

            foreach (var (name, target) in state)
            {
                var source = saved[name];
                if (!source.shape.SequenceEqual(target.shape))
                {
                    throw new InvalidDataException($"{name}: saved shape [{string.Join(",", source.shape)}] differs from the model's [{string.Join(",", target.shape)}].");
                }

                target.copy_(source);
            }
        }
        finally
        {
            foreach (var t in saved.Values)
            {
                t.Dispose();
            }
        }
    }

    private static byte[] ToBytes<T>(T[] values) where T : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    private static T[] FromBytes<T>(byte[] bytes) where T : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(bytes).ToArray();
}
