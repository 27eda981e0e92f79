using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Pipeline.Testing;
using Pipeline.Tests.Infra.Arm;
using static Pipeline.Tests.Infra.DeployedResources;

namespace Pipeline.Tests.Infra;

/// <summary>
/// Reads the ARM template the real Bicep compiler makes from infra/main.bicep (compiled by the test, never a stale
/// file) and checks what a deployment would create: GPU profile, trainer job, role assignments, blob events, settings.
/// </summary>
public class InfraTemplateTests(MainTemplate main) : IClassFixture<MainTemplate>
{
    private const string UploaderId = "11111111-2222-3333-4444-555555555555";

    private static readonly Dictionary<string, string> BuiltInRoles = new(StringComparer.OrdinalIgnoreCase)
    {
        ["b7e6dc6d-f1e8-4753-8033-0f276bb0955b"] = "Storage Blob Data Owner",
        ["ba92f5b4-2d11-453d-a403-e96b0029c9fe"] = "Storage Blob Data Contributor",
        ["2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"] = "Storage Blob Data Reader",
        ["974c5e8b-45b9-4653-ba55-5f855dd0fb88"] = "Storage Queue Data Contributor",
        ["0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"] = "Storage Table Data Contributor",
        ["3913510d-42f4-4e42-8a64-420c390055eb"] = "Monitoring Metrics Publisher",
        ["b9a307c4-5aa3-4b52-ba60-2b17c136cd7b"] = "Container Apps Jobs Operator",
        ["7f951dda-4ed3-4680-a7ca-43fe172d538d"] = "AcrPull",
    };

    [Fact]
    public void Main_template_compiles_without_a_single_diagnostic()
    {
        Assert.Equal(string.Empty, main.Diagnostics);
        Assert.Contains("subscriptionDeploymentTemplate", main.Template["$schema"]!.GetValue<string>());
    }

    [Fact]
    public void Every_bicep_file_lints_without_warnings()
    {
        var files = Directory.GetFiles(RepositoryPaths.Combine("infra"), "*.bicep", SearchOption.AllDirectories);
        Assert.True(files.Length >= 2, "infra/ should hold main.bicep and its modules");

        var (exitCode, output) = BicepCompiler.Run("lint", "--pattern", "infra/**/*.bicep");

        Assert.Equal(0, exitCode);
        Assert.Equal(string.Empty, output);
    }

    [Theory]
    [InlineData("T4", "Consumption-GPU-NC8as-T4", 8, "56Gi")]
    [InlineData("A100", "Consumption-GPU-NC24-A100", 24, "220Gi")]
    public void Trainer_job_runs_on_the_chosen_serverless_gpu_profile(string gpu, string profileType, long cpu, string memory)
    {
        var resources = main.Deploy(("gpu", gpu));

        var environment = resources.Single("Microsoft.App/managedEnvironments");
        var profiles = ((List<object?>)environment.Get("properties", "workloadProfiles")!).Cast<Dictionary<string, object?>>().ToList();
        var gpuProfile = Assert.Single(profiles, p => (string?)p["workloadProfileType"] != "Consumption");
        Assert.Equal(profileType, gpuProfile["workloadProfileType"]);

        var job = resources.Single("Microsoft.App/jobs");
        Assert.Equal(gpuProfile["name"], job.Get("properties", "workloadProfileName"));
        var container = Assert.Single((List<object?>)job.Get("properties", "template", "containers")!);
        var requested = (Dictionary<string, object?>)((Dictionary<string, object?>)container!)["resources"]!;
        Assert.Equal(cpu, requested["cpu"]);
        Assert.Equal(memory, requested["memory"]);

        // The launcher overrides the whole container on each start, so it must ask for the same size.
        var settings = resources.AppSettings();
        Assert.Equal(cpu.ToString(System.Globalization.CultureInfo.InvariantCulture), settings["Pipeline__ContainerAppsJob__Cpu"]);
        Assert.Equal(memory, settings["Pipeline__ContainerAppsJob__Memory"]);
    }

    [Fact]
    public void Gpu_parameter_offers_only_t4_and_a100_with_t4_by_default()
    {
        var gpu = main.Template["parameters"]!["gpu"]!;

        Assert.Equal<string>(["T4", "A100"], gpu["allowedValues"]!.AsArray().Select(v => v!.GetValue<string>()));
        Assert.Equal("T4", gpu["defaultValue"]!.GetValue<string>());
        var profiles = (List<object?>)main.Deploy().Single("Microsoft.App/managedEnvironments").Get("properties", "workloadProfiles")!;
        Assert.Contains(profiles, p => (string?)((Dictionary<string, object?>)p!)["workloadProfileType"] == "Consumption-GPU-NC8as-T4");
    }

    [Fact]
    public void Trainer_job_is_manual_with_the_configured_timeout_and_retry_limit()
    {
        var byDefault = main.Deploy().Single("Microsoft.App/jobs");
        Assert.Equal("Manual", byDefault.Get("properties", "configuration", "triggerType"));
        Assert.Equal(14400L, byDefault.Get("properties", "configuration", "replicaTimeout"));
        Assert.Equal(1L, byDefault.Get("properties", "configuration", "replicaRetryLimit"));
        Assert.Equal(1L, byDefault.Get("properties", "configuration", "manualTriggerConfig", "parallelism"));
        Assert.Equal(1L, byDefault.Get("properties", "configuration", "manualTriggerConfig", "replicaCompletionCount"));

        var configured = main.Deploy(("trainerTimeoutSeconds", 3600L), ("trainerRetryLimit", 3L)).Single("Microsoft.App/jobs");
        Assert.Equal(3600L, configured.Get("properties", "configuration", "replicaTimeout"));
        Assert.Equal(3L, configured.Get("properties", "configuration", "replicaRetryLimit"));
    }

    [Fact]
    public void Trainer_job_pulls_its_image_from_the_registry_with_its_managed_identity()
    {
        const string image = "crci.azurecr.io/pipeline/trainer-ci:azd-deploy-1";
        var resources = main.Deploy(("trainerImage", image));
        var job = resources.Single("Microsoft.App/jobs");

        var registry = (Dictionary<string, object?>)Assert.Single((List<object?>)job.Get("properties", "configuration", "registries")!)!;
        Assert.Contains("'registry'", Text(registry["server"]));
        Assert.Contains(".outputs.loginServer.", Text(registry["server"]));
        Assert.Contains(".outputs.trainerIdentityId.", Text(registry["identity"]));
        Assert.False(registry.ContainsKey("passwordSecretRef"), "the registry must be reached with the identity, not a password");
        Assert.False(((Dictionary<string, object?>)job.Get("properties", "configuration")!).ContainsKey("secrets"), "the job holds no secrets");
        var identities = (Dictionary<string, object?>)job.Get("identity", "userAssignedIdentities")!;
        Assert.Contains(".outputs.trainerIdentityId.", Text(Assert.Single(identities.Keys)));

        var container = (Dictionary<string, object?>)Assert.Single((List<object?>)job.Get("properties", "template", "containers")!)!;
        Assert.Equal(image, container["image"]);
        var env = ((List<object?>)container["env"]!).Cast<Dictionary<string, object?>>().ToDictionary(e => (string)e["name"]!, e => e["value"]);
        Assert.Contains(".outputs.blobEndpoint.", Text(env["PIPELINE_STORAGE_BLOB_URI"]));
        Assert.Contains(".outputs.trainerClientId.", Text(env["AZURE_CLIENT_ID"]));
        Assert.Equal(image, resources.AppSettings()["Pipeline__ContainerAppsJob__Image"]);

        // Before azd has pushed an image, job and launcher agree on a public placeholder.
        var placeholder = main.Deploy();
        var placeholderImage = ((Dictionary<string, object?>)((List<object?>)placeholder.Single("Microsoft.App/jobs").Get("properties", "template", "containers")!)[0]!)["image"];
        Assert.StartsWith("mcr.microsoft.com/", (string)placeholderImage!);
        Assert.Equal(placeholderImage, placeholder.AppSettings()["Pipeline__ContainerAppsJob__Image"]);
    }

    [Fact]
    public void Role_assignments_grant_exactly_the_least_privilege_table()
    {
        var resources = main.Deploy(("uploaderPrincipalId", UploaderId));

        var granted = resources.OfType("Microsoft.Authorization/roleAssignments").Select(Describe).Order().ToList();

        string[] expected =
        [
            "AcrPull | trainer identity | registry",
            "Container Apps Jobs Operator | functions identity | trainer job",
            "Monitoring Metrics Publisher | functions identity | application insights",
            "Storage Blob Data Contributor | event grid topic | container eventgrid-deadletter",
            "Storage Blob Data Contributor | trainer identity | container models",
            "Storage Blob Data Contributor | trainer identity | container runs",
            "Storage Blob Data Contributor | uploader | container unlabeled",
            "Storage Blob Data Owner | functions identity | storage account",
            "Storage Blob Data Reader | trainer identity | container datasets",
            "Storage Blob Data Reader | trainer identity | container labeled",
            "Storage Queue Data Contributor | functions identity | storage account",
            "Storage Table Data Contributor | functions identity | storage account",
        ];
        // Compared as text so a failure shows the offending row.
        Assert.Equal(string.Join('\n', expected.Order()), string.Join('\n', granted));
    }

    [Fact]
    public void Uploader_gets_no_role_when_no_principal_is_given()
    {
        var granted = main.Deploy().OfType("Microsoft.Authorization/roleAssignments").Select(Describe).ToList();

        Assert.Equal(11, granted.Count);
        Assert.DoesNotContain(granted, g => g.Contains("| uploader |", StringComparison.Ordinal));
    }

    [Fact]
    public void BlobCreated_events_under_unlabeled_are_delivered_to_the_ingest_blob_trigger()
    {
        var resources = main.Deploy(("subscribeBlobEvents", true));

        var topic = resources.Single("Microsoft.EventGrid/systemTopics");
        Assert.Equal("Microsoft.Storage.StorageAccounts", topic.Get("properties", "topicType"));
        Assert.Equal("Microsoft.Storage/storageAccounts", ((ResourceRef)topic.Get("properties", "source")!).Type);

        var subscription = resources.Single("Microsoft.EventGrid/systemTopics/eventSubscriptions");
        Assert.Equal(new object?[] { "Microsoft.Storage.BlobCreated" }, (List<object?>)subscription.Get("properties", "filter", "includedEventTypes")!);
        Assert.Equal("/blobServices/default/containers/unlabeled/", subscription.Get("properties", "filter", "subjectBeginsWith"));
        Assert.Equal("WebHook", subscription.Get("properties", "destination", "endpointType"));
        Assert.Equal("EventGridSchema", subscription.Get("properties", "eventDeliverySchema"));

        var url = Text(subscription.Get("properties", "destination", "properties", "endpointUrl"));
        Assert.Matches(@"^https://⟨[^⟩]*defaultHostName⟩/runtime/webhooks/blobs\?functionName=Host\.Functions\.IngestUnlabeledBlob&code=⟨listKeys\(", url);
        Assert.Contains("/host/default", url);
        Assert.EndsWith(".systemKeys.blobs_extension⟩", url);

        Assert.Equal("eventgrid-deadletter", subscription.Get("properties", "deadLetterWithResourceIdentity", "deadLetterDestination", "properties", "blobContainerName"));
        Assert.Equal("SystemAssigned", subscription.Get("properties", "deadLetterWithResourceIdentity", "identity", "type"));
    }

    [Fact]
    public void Event_subscription_waits_until_the_function_code_is_deployed()
    {
        var resources = main.Deploy();

        resources.Single("Microsoft.EventGrid/systemTopics");
        Assert.Empty(resources.OfType("Microsoft.EventGrid/systemTopics/eventSubscriptions"));
    }

    [Fact]
    public void App_settings_hold_no_storage_key_or_connection_string()
    {
        var resources = main.Deploy(("subscribeBlobEvents", true));
        var settings = resources.AppSettings();

        foreach (var (name, value) in settings)
        {
            var text = Text(value);
            foreach (var secretMarker in new[] { "AccountKey=", "SharedAccessSignature=", "DefaultEndpointsProtocol=", "UseDevelopmentStorage", "listKeys(", "listAccountSas(" })
            {
                Assert.False(text.Contains(secretMarker, StringComparison.OrdinalIgnoreCase), $"app setting {name} contains {secretMarker}");
            }
        }

        // Plain connection-string settings must not exist at all; the identity-based forms replace them.
        foreach (var forbidden in new[] { "AzureWebJobsStorage", "PipelineStorage", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION" })
        {
            Assert.False(settings.ContainsKey(forbidden), $"app setting {forbidden} must not be set");
        }

        foreach (var connection in new[] { "AzureWebJobsStorage", "PipelineStorage" })
        {
            Assert.Equal("managedidentity", settings[$"{connection}__credential"]);
            Assert.Contains(".outputs.functionsClientId.", Text(settings[$"{connection}__clientId"]));
        }

        Assert.Contains(".outputs.name.", Text(settings["AzureWebJobsStorage__accountName"]));
        Assert.Contains(".outputs.blobEndpoint.", Text(settings["PipelineStorage__blobServiceUri"]));
        Assert.Contains(".outputs.queueEndpoint.", Text(settings["PipelineStorage__queueServiceUri"]));
        Assert.Matches("^ClientId=⟨.*outputs.functionsClientId.*⟩;Authorization=AAD$", Text(settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]));

        var deploymentStorage = resources.Single("Microsoft.Web/sites").Get("properties", "functionAppConfig", "deployment", "storage", "authentication");
        Assert.Equal("UserAssignedIdentity", ((Dictionary<string, object?>)deploymentStorage!)["type"]);
        Assert.False(((Dictionary<string, object?>)deploymentStorage).ContainsKey("storageAccountConnectionStringName"));
        Assert.Equal(false, resources.Single("Microsoft.Storage/storageAccounts").Get("properties", "allowSharedKeyAccess"));

        // The only key the template reads anywhere is the Functions host's blobs_extension key, for the webhook.
        var json = main.Template.ToJsonString();
        var listKeys = Regex.Matches(json, @"listKeys\((.{0,200})").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(listKeys);
        Assert.All(listKeys, call => Assert.Contains("/host/default", call));
        Assert.DoesNotContain("Microsoft.Storage/storageAccounts', parameters('storageAccountName')), '", string.Concat(listKeys));
    }

    [Fact]
    public void Function_app_runs_the_isolated_worker_on_flex_consumption_and_launches_the_trainer_job()
    {
        var resources = main.Deploy();

        var plan = resources.Single("Microsoft.Web/serverfarms");
        Assert.Equal("FC1", plan.Get("sku", "name"));
        Assert.Equal("FlexConsumption", plan.Get("sku", "tier"));

        var app = resources.Single("Microsoft.Web/sites");
        Assert.Equal("dotnet-isolated", app.Get("properties", "functionAppConfig", "runtime", "name"));
        Assert.Equal("10.0", app.Get("properties", "functionAppConfig", "runtime", "version"));
        Assert.Equal(true, app.Get("properties", "httpsOnly"));
        Assert.Equal("UserAssigned", app.Get("identity", "type"));
        Assert.Contains(".outputs.functionsIdentityId.", Text(Assert.Single(((Dictionary<string, object?>)app.Get("identity", "userAssignedIdentities")!).Keys)));

        var settings = resources.AppSettings();
        Assert.Equal("ContainerAppsJob", settings["Pipeline__Launcher"]);
        Assert.Contains("'trainer'", Text(settings["Pipeline__ContainerAppsJob__JobName"]));
        Assert.Contains(".outputs.jobName.", Text(settings["Pipeline__ContainerAppsJob__JobName"]));
        Assert.Equal("trainer", settings["Pipeline__ContainerAppsJob__ContainerName"]);
        Assert.Contains(".outputs.trainerClientId.", Text(settings["Pipeline__ContainerAppsJob__TrainerClientId"]));
        Assert.Contains(".outputs.functionsClientId.", Text(settings["Pipeline__ContainerAppsJob__ClientId"]));
        Assert.Contains("environment().resourceManager", Text(settings["Pipeline__ContainerAppsJob__ArmEndpoint"]));
        Assert.Contains("subscriptionId", Text(settings["Pipeline__ContainerAppsJob__SubscriptionId"]));
        Assert.Contains("resourceGroup().name", Text(settings["Pipeline__ContainerAppsJob__ResourceGroup"]));
        Assert.Contains(".outputs.blobEndpoint.", Text(settings["PIPELINE_STORAGE_BLOB_URI"]));

        var basicAuth = resources.OfType("Microsoft.Web/sites/basicPublishingCredentialsPolicies");
        Assert.Equal(2, basicAuth.Count);
        Assert.All(basicAuth, p => Assert.Equal(false, p.Get("properties", "allow")));
    }

    [Fact]
    public void Storage_account_holds_every_container_of_the_storage_layout()
    {
        var containers = main.Deploy().OfType("Microsoft.Storage/storageAccounts/blobServices/containers");

        var names = containers.Select(c => Text(c.Name).Split('/')[^1]).ToList();
        foreach (var expected in new[] { "unlabeled", "labeled", "quarantine", "datasets", "runs", "models", "eventgrid-deadletter" })
        {
            Assert.Contains(expected, names);
        }

        Assert.All(containers, c => Assert.Equal("None", c.Get("properties", "publicAccess")));
    }

    [Fact]
    public void Host_json_connections_all_have_identity_based_settings()
    {
        var hostJson = JsonNode.Parse(File.ReadAllText(RepositoryPaths.Combine("host.json")))!;
        var durable = hostJson["extensions"]!["durableTask"]!;
        Assert.Equal("AzureStorage", durable["storageProvider"]!["type"]!.GetValue<string>());
        Assert.Equal("PipelineHub", durable["hubName"]!.GetValue<string>());

        var settings = main.Deploy().AppSettings();
        var durableConnection = durable["storageProvider"]!["connectionName"]!.GetValue<string>();
        Assert.Equal("managedidentity", settings[$"{durableConnection}__credential"]);
        Assert.True(settings.ContainsKey($"{durableConnection}__accountName"), $"{durableConnection} needs an account for Durable's queues and tables");
    }

    [Fact]
    public void Parameters_file_sets_only_parameters_the_template_declares()
    {
        var file = JsonNode.Parse(File.ReadAllText(RepositoryPaths.Combine("infra", "main.parameters.json")))!["parameters"]!.AsObject();
        var declared = main.Template["parameters"]!.AsObject();

        Assert.All(file, p => Assert.True(declared.ContainsKey(p.Key), $"main.parameters.json sets '{p.Key}', which main.bicep does not declare"));
        var required = declared.Where(p => p.Value is JsonObject d && !d.ContainsKey("defaultValue")).Select(p => p.Key);
        Assert.All(required, name => Assert.True(file.ContainsKey(name), $"main.parameters.json must set required parameter '{name}'"));
    }

    /// <summary>"role | principal | scope" for one role assignment, from its evaluated properties.</summary>
    private static string Describe(DeployedResource assignment)
    {
        var role = (ResourceRef)assignment.Get("properties", "roleDefinitionId")!;
        Assert.Equal("Microsoft.Authorization/roleDefinitions", role.Type);
        var roleName = BuiltInRoles.TryGetValue(role.LastName ?? string.Empty, out var known) ? known : $"unknown role {role}";

        var principalId = assignment.Get("properties", "principalId");
        var principal = principalId switch
        {
            Unresolved u when u.Text.Contains("'identity'") && u.Text.Contains(".outputs.functionsPrincipalId.") => "functions identity",
            Unresolved u when u.Text.Contains("'identity'") && u.Text.Contains(".outputs.trainerPrincipalId.") => "trainer identity",
            Unresolved u when u.Text.Contains("'blob-events'") && u.Text.Contains(".outputs.principalId.") => "event grid topic",
            UploaderId => "uploader",
            _ => $"unknown principal {Text(principalId)}",
        };

        // No scope means the resource group of the module: far broader than any row of the table.
        if (assignment.Body.GetValueOrDefault("scope") is not ResourceRef scope)
        {
            return $"{roleName} | {principal} | unexpected scope {Text(assignment.Body.GetValueOrDefault("scope") ?? "resource group")}";
        }

        var fromModule = (string module, string output) =>
            Text(scope.Names[0]).Contains($"'{module}'") && Text(scope.Names[0]).Contains($".outputs.{output}.");
        var where = scope.Type switch
        {
            "Microsoft.Storage/storageAccounts" when fromModule("storage", "name") => "storage account",
            "Microsoft.Storage/storageAccounts/blobServices/containers" when fromModule("storage", "name") => $"container {scope.LastName}",
            "Microsoft.ContainerRegistry/registries" when fromModule("registry", "name") => "registry",
            "Microsoft.App/jobs" when fromModule("trainer", "jobName") => "trainer job",
            "Microsoft.Insights/components" when fromModule("monitoring", "applicationInsightsName") => "application insights",
            _ => $"unexpected scope {scope}",
        };

        return $"{roleName} | {principal} | {where}";
    }
}
