namespace Pipeline.Inference; internal static class Placeholder { }
