namespace Pipeline.Ingestion; internal static class Placeholder { }
