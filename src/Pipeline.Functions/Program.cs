using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Pipeline.Core.Storage;
using Pipeline.Inference.Http;
using Pipeline.Orchestration;
using Pipeline.Orchestration.Hosting;
using Pipeline.Orchestration.Jobs;

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();

// Settings: Pipeline__Launcher, Pipeline__ContainerAppsJob__* (infra/modules/functions.bicep), PIPELINE_STORAGE_BLOB_URI.
var storage = StorageOptions.FromEnvironment();
var pipeline = builder.Configuration.GetSection(PipelineOptions.Section).Get<PipelineOptions>() ?? new PipelineOptions();
builder.Services.AddSingleton(_ => (builder.Configuration.GetSection(ContainerAppsJobOptions.Section).Get<ContainerAppsJobOptions>() ?? new ContainerAppsJobOptions())
    with { StorageBlobUri = storage.BlobServiceUri });
builder.Services.AddPipelineServices(pipeline, storage);
builder.Services.AddPipelineInference();
builder.Build().Run();
