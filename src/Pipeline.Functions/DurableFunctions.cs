using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Pipeline.Orchestration;
using Pipeline.Orchestration.Activities;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Orchestrators;
using Pipeline.Orchestration.Sealing;

namespace Pipeline.Functions;

/// <summary>
/// The class-based orchestrators of Pipeline.Orchestration as Durable Functions (the source generator that would do
/// this is not available here): each wrapper hands the context and input to the same class the local host runs.
/// </summary>
public static class Orchestrations
{
    [Function(TaskNames.IngestBlob)]
    public static Task<IngestBlobResult> IngestBlob([OrchestrationTrigger] TaskOrchestrationContext context) =>
        new IngestBlobOrchestrator().RunAsync(context, context.GetInput<IngestBlobInput>()!);

    [Function(TaskNames.Pretrain)]
    public static Task<PretrainResult> Pretrain([OrchestrationTrigger] TaskOrchestrationContext context) =>
        new PretrainOrchestrator().RunAsync(context, context.GetInput<PretrainInput>()!);

    [Function(TaskNames.TrainingJob)]
    public static Task<TrainingJobOutcome> TrainingJob([OrchestrationTrigger] TaskOrchestrationContext context) =>
        new TrainingJobOrchestrator().RunAsync(context, context.GetInput<TrainingJobInput>()!);

    [Function(TaskNames.Publish)]
    public static Task<PublishOutcome> Publish([OrchestrationTrigger] TaskOrchestrationContext context) =>
        new PublishOrchestrator().RunAsync(context, context.GetInput<PublishInput>()!);
}

/// <summary>The activities, each resolved from DI (its services) and run with the trigger's input.</summary>
public sealed class Activities(IServiceProvider services)
{
    [Function(TaskNames.AcceptUpload)]
    public Task<IngestBlobResult> AcceptUpload([ActivityTrigger] IngestBlobInput input, FunctionContext ctx) => Run<AcceptUploadActivity, IngestBlobInput, IngestBlobResult>(input);

    [Function(TaskNames.RequestSeal)]
    public Task<SealAllocation?> RequestSeal([ActivityTrigger] SealTrigger input, FunctionContext ctx) => Run<RequestSealActivity, SealTrigger, SealAllocation?>(input);

    [Function(TaskNames.SealDataset)]
    public Task<SealedDataset> SealDataset([ActivityTrigger] SealRequest input, FunctionContext ctx) => Run<SealDatasetActivity, SealRequest, SealedDataset>(input);

    [Function(TaskNames.PlanTrainingJobs)]
    public Task<IReadOnlyList<TrainingJobInput>> PlanTrainingJobs([ActivityTrigger] PlanRequest input, FunctionContext ctx) =>
        Run<PlanTrainingJobsActivity, PlanRequest, IReadOnlyList<TrainingJobInput>>(input);

    [Function(TaskNames.LaunchJob)]
    public Task<JobHandle> LaunchJob([ActivityTrigger] LaunchRequest input, FunctionContext ctx) => Run<LaunchJobActivity, LaunchRequest, JobHandle>(input);

    [Function(TaskNames.PollJob)]
    public Task<JobPoll> PollJob([ActivityTrigger] JobHandle input, FunctionContext ctx) => Run<PollJobActivity, JobHandle, JobPoll>(input);

    [Function(TaskNames.StopJob)]
    public Task<bool> StopJob([ActivityTrigger] JobHandle input, FunctionContext ctx) => Run<StopJobActivity, JobHandle, bool>(input);

    [Function(TaskNames.CheckParity)]
    public Task<ParityGate> CheckParity([ActivityTrigger] PublishInput input, FunctionContext ctx) => Run<CheckParityActivity, PublishInput, ParityGate>(input);

    [Function(TaskNames.EvaluateModel)]
    public Task<EvaluationSummary> EvaluateModel([ActivityTrigger] PublishInput input, FunctionContext ctx) => Run<EvaluateModelActivity, PublishInput, EvaluationSummary>(input);

    [Function(TaskNames.PublishModel)]
    public Task<PublishedModel> PublishModel([ActivityTrigger] PublishModelRequest input, FunctionContext ctx) => Run<PublishModelActivity, PublishModelRequest, PublishedModel>(input);

    // The activities read nothing from their context; the Functions runtime gives none in this shape.
    private Task<TOut> Run<TActivity, TIn, TOut>(TIn input) where TActivity : TaskActivity<TIn, TOut> =>
        Microsoft.Extensions.DependencyInjection.ActivatorUtilities.CreateInstance<TActivity>(services).RunAsync(null!, input);
}
