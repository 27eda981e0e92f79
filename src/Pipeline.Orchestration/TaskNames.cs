namespace Pipeline.Orchestration;

/// <summary>The durable names of every orchestrator and activity: the Functions app and the local host register the same.</summary>
public static class TaskNames
{
    public const string IngestBlob = "IngestBlob";
    public const string Pretrain = "Pretrain";
    public const string TrainingJob = "TrainingJob";
    public const string Publish = "Publish";

    public const string AcceptUpload = "AcceptUpload";
    public const string RequestSeal = "RequestSeal";
    public const string SealDataset = "SealDataset";
    public const string PlanTrainingJobs = "PlanTrainingJobs";
    public const string LaunchJob = "LaunchJob";
    public const string PollJob = "PollJob";
    public const string StopJob = "StopJob";
    public const string CheckParity = "CheckParity";
    public const string EvaluateModel = "EvaluateModel";
    public const string PublishModel = "PublishModel";
}
