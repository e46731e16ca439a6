namespace WapBackup.Testing.Mongo.Oplog;

/// <summary>
/// A prepared transaction written by <see cref="MongoTestServer.AppendPreparedTransaction"/>: its session,
/// the ts of its first entry (config.transactions' startOpTime) and of its prepare entry (the commit's prevOpTime).
/// </summary>
public sealed record PreparedTransaction(SessionInfo Session, long FirstTs, long PrepareTs);
