using System.CommandLine;
using Pipeline.Cli.Commands;

var root = new RootCommand("pipeline: self-supervised pretraining on Azure Functions or a local host");
root.Subcommands.Add(UpCommand.Create());
root.Subcommands.Add(StatusCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
return await root.Parse(args).InvokeAsync();
