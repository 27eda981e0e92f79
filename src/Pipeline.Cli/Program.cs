using System.CommandLine;
using Pipeline.Cli.Commands;

var root = new RootCommand("pipeline: self-supervised pretraining on Azure Functions + Durable, or locally on Azurite");
root.Subcommands.Add(UpCommand.Create());
root.Subcommands.Add(StatusCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(IngestCommand.Create());
root.Subcommands.Add(UploadIdxCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
return await root.Parse(args).InvokeAsync();
