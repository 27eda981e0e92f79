namespace Pipeline.Orchestration; internal static class Placeholder { }
