using System.Text.Json.Nodes;

namespace Pipeline.Tests.Infra.Arm;

public class ArmScopeTests
{
    private static readonly JsonObject Template = (JsonObject)JsonNode.Parse("""
        {
          "parameters": { "gpu": { "type": "string", "defaultValue": "T4" }, "name": { "type": "string" } },
          "variables": {
            "profiles": { "T4": { "cpu": 8 }, "A100": { "cpu": 24 } },
            "containers": [ "runs", "models" ]
          }
        }
        """)!;

    [Fact]
    public void Indexing_format_and_parameter_defaults_evaluate_like_resource_manager()
    {
        var scope = new ArmScope(Template, new Dictionary<string, object?> { ["name"] = "st1" });

        Assert.Equal(8L, scope.Evaluate(JsonValue.Create("[variables('profiles')[parameters('gpu')].cpu]")));
        Assert.Equal("st1/default/models", scope.Evaluate(JsonValue.Create("[format('{0}/{1}/{2}', parameters('name'), 'default', variables('containers')[1])]")));
        Assert.Equal("it's", scope.Evaluate(JsonValue.Create("[concat('it''', 's')]")));
        Assert.Equal("[literal]", scope.Evaluate(JsonValue.Create("[[literal]")));
        Assert.Equal("runs", scope.WithCopyIndex(0).Evaluate(JsonValue.Create("[variables('containers')[copyIndex()]]")));
        Assert.Equal(24L, new ArmScope(Template, new Dictionary<string, object?> { ["name"] = "x", ["gpu"] = "A100" })
            .Evaluate(JsonValue.Create("[variables('profiles')[parameters('gpu')].cpu]")));
    }

    [Fact]
    public void Values_only_azure_knows_stay_unresolved_with_their_expression()
    {
        var scope = new ArmScope(Template, new Dictionary<string, object?> { ["name"] = "st1" });

        var id = (ResourceRef)scope.Evaluate(JsonValue.Create("[resourceId('Microsoft.Storage/storageAccounts/blobServices/containers', parameters('name'), 'default', 'runs')]"))!;
        Assert.Equal("Microsoft.Storage/storageAccounts/blobServices/containers", id.Type);
        Assert.Equal("runs", id.LastName);

        var output = scope.Evaluate(JsonValue.Create("[reference(resourceId('Microsoft.Resources/deployments', 'identity'), '2025-04-01').outputs.clientId.value]"));
        Assert.Equal("reference(resourceId('Microsoft.Resources/deployments', 'identity'), '2025-04-01').outputs.clientId.value", Assert.IsType<Unresolved>(output).Text);

        var url = scope.Evaluate(JsonValue.Create("[format('https://{0}/x?code={1}', parameters('name'), listKeys('k', '1').key)]"));
        Assert.Equal("https://st1/x?code=⟨listKeys('k', '1').key⟩", Assert.IsType<Unresolved>(url).Text);
    }
}
