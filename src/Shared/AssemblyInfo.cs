namespace WapBackup.Shared;
