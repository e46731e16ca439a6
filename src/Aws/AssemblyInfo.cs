namespace WapBackup.Aws;
