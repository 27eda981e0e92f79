using Azure.Storage.Blobs;
using Microsoft.DurableTask;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Pipeline.Core.Storage;
using Pipeline.Ingestion.Images;
using Pipeline.Orchestration.Activities;
using Pipeline.Orchestration.Jobs;
using Pipeline.Orchestration.Orchestrators;
using Pipeline.Orchestration.Sealing;
using Pipeline.Orchestration.Services;

namespace Pipeline.Orchestration.Hosting;

/// <summary>The one list of orchestrators, activities and services; the Functions app and the local host both use it.</summary>
public static class PipelineRegistration
{
    public static void AddTasks(DurableTaskRegistry registry)
    {
        registry.AddOrchestrator<IngestBlobOrchestrator>();
        registry.AddOrchestrator<PretrainOrchestrator>();
        registry.AddOrchestrator<TrainingJobOrchestrator>();
        registry.AddOrchestrator<PublishOrchestrator>();
        registry.AddActivity<AcceptUploadActivity>();
        registry.AddActivity<RequestSealActivity>();
        registry.AddActivity<SealDatasetActivity>();
        registry.AddActivity<PlanTrainingJobsActivity>();
        registry.AddActivity<LaunchJobActivity>();
        registry.AddActivity<PollJobActivity>();
        registry.AddActivity<StopJobActivity>();
        registry.AddActivity<CheckParityActivity>();
        registry.AddActivity<EvaluateModelActivity>();
        registry.AddActivity<PublishModelActivity>();
    }

    /// <summary>
    /// Registers storage, ingestion, the configured job launcher, publisher and evaluator (each only if not already
    /// registered, so tests and hosts can substitute one) and the seal coordinator.
    /// </summary>
    public static IServiceCollection AddPipelineServices(this IServiceCollection services, PipelineOptions options, StorageOptions storage)
    {
        options.Validate();
        services.TryAddSingleton(options);
        services.TryAddSingleton(storage);
        services.TryAddSingleton<BlobServiceClient>(_ => storage.CreateBlobServiceClient());
        services.TryAddSingleton(sp => new ImageIngestion(sp.GetRequiredService<BlobServiceClient>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IDatasetKindIngestion, ImageKindIngestion>());
        services.TryAddSingleton<IUploadIngestion, IngestionRouter>();
        services.TryAddSingleton<IModelEvaluator, NoEvaluation>();
        services.TryAddSingleton<IJobLauncher>(sp => options.Launcher switch
        {
            LocalProcessLauncher.LauncherName => new LocalProcessLauncher(
                sp.GetService<LocalProcessLauncherOptions>() ?? new LocalProcessLauncherOptions { Storage = storage },
                sp.GetRequiredService<ILogger<LocalProcessLauncher>>()),
            ContainerAppsJobLauncher.LauncherName => new ContainerAppsJobLauncher(
                sp.GetRequiredService<ContainerAppsJobOptions>(), sp.GetRequiredService<ILogger<ContainerAppsJobLauncher>>()),
            _ => throw new ArgumentException($"Pipeline:Launcher '{options.Launcher}' is unknown; use '{LocalProcessLauncher.LauncherName}' or '{ContainerAppsJobLauncher.LauncherName}'."),
        });
        services.TryAddSingleton<SealCoordinator>();
        services.TryAddSingleton<PipelineApi>();
        return services;
    }
}
