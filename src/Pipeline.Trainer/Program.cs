Console.Error.WriteLine("usage: Pipeline.Trainer run --spec <file|blob path>");
return 2;
