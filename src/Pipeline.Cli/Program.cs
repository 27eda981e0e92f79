Console.Error.WriteLine("usage: pipeline <up|demo|ingest|train|export|eval|serve>");
return 2;
