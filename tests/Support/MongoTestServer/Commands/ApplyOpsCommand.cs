namespace WapBackup.Testing.Mongo.Commands;

public static class ApplyOpsCommand
{
    public static void Register(IDictionary<string, CommandHandler> handlers)
    {
        _ = handlers;
    }
}
